/* registrar_uring.h - the io_uring registrar (see registrar_uring.c). */
#ifndef VB_REGISTRAR_URING_H
#define VB_REGISTRAR_URING_H

#include "registrar.h"

#include <liburing.h>

typedef struct vb_uring_table {
    struct io_uring *ring;
    uint32_t slots;
    uint8_t *used; /* per slot: 1 while a region occupies it */
} vb_uring_table;

int32_t vb_uring_table_init(vb_uring_table *t, struct io_uring *ring, uint32_t slots);
void vb_uring_table_fini(vb_uring_table *t);

extern const vb_registrar_ops vb_uring_registrar_ops;

#endif /* VB_REGISTRAR_URING_H */
