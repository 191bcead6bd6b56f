/**
 * Installs the maker of the ring's default recv pool (see net.ts for why
 * this is a module of its own). Imported by mod.ts.
 *
 * @module
 */
import { HybridPool } from "../hybrid_pool.ts";
import { setDefaultPoolMaker } from "./net.ts";

setDefaultPoolMaker((size, count) =>
  HybridPool.create({ classes: [{ size, count }], name: "ring recv buffers" })
);
