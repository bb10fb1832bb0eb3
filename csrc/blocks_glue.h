/* blocks_glue.h: the CPython glue of the block kernels (blocks.c), included by module.c.
 * Labels travel as uint16 buffers (numpy uint16 arrays: 2 bytes a label, native order). */
#ifndef BLOCKS_GLUE_H
#define BLOCKS_GLUE_H

static int check_wide_bits(int bits) {
    if (bits < 1 || bits > 16) {
        PyErr_SetString(PyExc_ValueError, "bits must be 1..16");
        return -1;
    }
    return 0;
}

/* The kernels take typed pointers: check_aligned (kmeans_glue.h) checks each buffer's. */
/* A buffer of uint16 labels: an even length, count = len / 2. */
static int check_wide_labels(const char *name, const Py_buffer *labels, Py_ssize_t *count) {
    if (labels->len % 2) {
        PyErr_Format(PyExc_ValueError, "%s: an odd number of bytes for uint16 labels", name);
        return -1;
    }
    if (check_aligned(name, labels, sizeof(uint16_t))) return -1;
    *count = labels->len / 2;
    return 0;
}

PyDoc_STRVAR(pack_wide_doc,
             "pack_wide(labels, bits) -> bytes\n\n"
             "Pack uint16 labels (each < 2**bits, bits 1..16) MSB first, the last byte\n"
             "zero-padded.");

static PyObject *pack_wide(PyObject *self, PyObject *args) {
    Py_buffer labels;
    int bits;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*i", &labels, &bits)) return NULL;
    PyObject *result = NULL;
    if (check_wide_bits(bits) || check_wide_labels("labels", &labels, &count)) goto done;
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)vq_packed_size((uint64_t)count, bits));
    if (!result) goto done;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    vq_pack_wide(labels.buf, (uint64_t)count, bits, out);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&labels);
    return result;
}

PyDoc_STRVAR(unpack_wide_doc,
             "unpack_wide(payload, bits, out) -> None\n\n"
             "Unpack len(out) // 2 uint16 labels from exactly packed_size(count, bits) bytes.");

static PyObject *unpack_wide(PyObject *self, PyObject *args) {
    Py_buffer payload, out;
    int bits;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "y*iw*", &payload, &bits, &out)) return NULL;
    PyObject *result = NULL;
    if (check_wide_bits(bits) || check_wide_labels("out", &out, &count) ||
        check_length("payload", payload.len,
                     (Py_ssize_t)vq_packed_size((uint64_t)count, bits)))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    vq_unpack_wide(payload.buf, (uint64_t)count, bits, out.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&payload);
    return result;
}

PyDoc_STRVAR(paint_doc,
             "paint(labels, width, height, block_width, block_height, codebook, channels, out)"
             " -> int\n\n"
             "The image from its block labels (uint16, one a block, row-major): each block's\n"
             "code vector copied in, cut at the image's edges. Returns 0, or a negative status\n"
             "code (a label outside the codebook).");

static PyObject *paint(PyObject *self, PyObject *args) {
    Py_buffer labels, codebook, out;
    Py_ssize_t width, height, channels, count, n;
    int block_width, block_height, status;
    if (!PyArg_ParseTuple(args, "y*nniiy*nw*", &labels, &width, &height, &block_width,
                          &block_height, &codebook, &channels, &out))
        return NULL;
    PyObject *result = NULL;
    if (check_dims(width, height, channels, &count) || check_wide_labels("labels", &labels, &n))
        goto done;
    if (block_width < 1 || block_width > 8 || block_height < 1 || block_height > 8) {
        PyErr_SetString(PyExc_ValueError, "block_width and block_height must be 1..8");
        goto done;
    }
    Py_ssize_t columns = (width + block_width - 1) / block_width;
    Py_ssize_t rows = (height + block_height - 1) / block_height;
    Py_ssize_t entry = (Py_ssize_t)block_width * block_height * channels;
    Py_ssize_t entries = codebook.len / entry;
    if (entries < 1 || entries > 65536 || entries * entry != codebook.len) {
        PyErr_SetString(PyExc_ValueError,
                        "codebook: must hold 1..65536 entries of a block's bytes");
        goto done;
    }
    if (check_length("labels", n, columns * rows) ||
        check_length("out", out.len, count * channels))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    status = vq_paint(labels.buf, (uint32_t)width, (uint32_t)height, block_width, block_height,
                      codebook.buf, (int)entries, (int)channels, out.buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLong(status);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&codebook);
    PyBuffer_Release(&labels);
    return result;
}

/* A float32 or float64 buffer of rows x dim values. */
static int check_matrix(const char *name, const Py_buffer *b, Py_ssize_t item, Py_ssize_t dim,
                        Py_ssize_t most, Py_ssize_t *rows) {
    if (check_aligned(name, b, (size_t)item)) return -1;
    Py_ssize_t n = b->len / item / dim;
    if (n < 1 || n > most || n * item * dim != b->len) {
        PyErr_Format(PyExc_ValueError, "%s: must hold 1..%zd rows of %zd values", name, most,
                     dim);
        return -1;
    }
    *rows = n;
    return 0;
}

PyDoc_STRVAR(block_nearest_doc,
             "block_nearest(vectors, dim, codebook, labels, distances) -> None\n\n"
             "labels[i] (uint16) = the index of the codeword (float32 rows of dim) nearest\n"
             "vector i (uint8 rows of dim), ties to the lower index; distances (float32, one\n"
             "a vector, or None) gets the squared distances.");

static PyObject *block_nearest(PyObject *self, PyObject *args) {
    Py_buffer vectors, codebook, labels, distances = {0};
    Py_ssize_t dim, n = 0, entries, count;
    PyObject *distances_object;
    if (!PyArg_ParseTuple(args, "y*ny*w*O", &vectors, &dim, &codebook, &labels,
                          &distances_object))
        return NULL;
    PyObject *result = NULL;
    int have_distances = distances_object != Py_None, status;
    if (have_distances &&
        PyObject_GetBuffer(distances_object, &distances, PyBUF_WRITABLE) < 0) {
        have_distances = 0;
        goto done;
    }
    if (dim < 1 || dim > VQ_MAX_BLOCK_DIM) {
        PyErr_Format(PyExc_ValueError, "dim must be 1..%d", VQ_MAX_BLOCK_DIM);
        goto done;
    }
    n = vectors.len / dim;
    if (n * dim != vectors.len || check_wide_labels("labels", &labels, &count) ||
        check_length("labels", count, n) ||
        check_matrix("codebook", &codebook, sizeof(float), dim, 65536, &entries) ||
        (have_distances && (check_aligned("distances", &distances, sizeof(float)) ||
                            check_length("distances", distances.len,
                                         n * (Py_ssize_t)sizeof(float)))))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    status = vq_block_nearest(vectors.buf, (uint64_t)n, (int)dim, codebook.buf, (int)entries,
                              labels.buf, have_distances ? distances.buf : NULL);
    Py_END_ALLOW_THREADS
    if (status == VQ_ERR_NOMEM) {
        PyErr_NoMemory();
    } else if (status == VQ_ERR_ARGS) {
        PyErr_SetString(PyExc_ValueError, "codebook: every component must be finite");
    } else if (status < 0) {
        PyErr_Format(PyExc_RuntimeError, "block_nearest failed (%d)", status);
    } else {
        result = Py_NewRef(Py_None);
    }
done:
    if (have_distances) PyBuffer_Release(&distances);
    PyBuffer_Release(&labels);
    PyBuffer_Release(&codebook);
    PyBuffer_Release(&vectors);
    return result;
}

PyDoc_STRVAR(block_sums_doc,
             "block_sums(vectors, dim, labels, sums, counts) -> int\n\n"
             "sums (float64, entries x dim) and counts (uint64, entries) of the vectors given\n"
             "each label. Returns 0, or a negative status code (a label >= entries).");

static PyObject *block_sums(PyObject *self, PyObject *args) {
    Py_buffer vectors, labels, sums, counts;
    Py_ssize_t dim, n, entries, count;
    if (!PyArg_ParseTuple(args, "y*ny*w*w*", &vectors, &dim, &labels, &sums, &counts))
        return NULL;
    PyObject *result = NULL;
    int status;
    if (dim < 1 || dim > VQ_MAX_BLOCK_DIM) {
        PyErr_Format(PyExc_ValueError, "dim must be 1..%d", VQ_MAX_BLOCK_DIM);
        goto done;
    }
    n = vectors.len / dim;
    if (n * dim != vectors.len || check_wide_labels("labels", &labels, &count) ||
        check_length("labels", count, n) ||
        check_matrix("sums", &sums, sizeof(double), dim, 65536, &entries) ||
        check_aligned("counts", &counts, sizeof(uint64_t)) ||
        check_length("counts", counts.len, entries * (Py_ssize_t)sizeof(uint64_t)))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    status = vq_block_sums(vectors.buf, (uint64_t)n, (int)dim, labels.buf, (int)entries,
                           sums.buf, counts.buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLong(status);
done:
    PyBuffer_Release(&counts);
    PyBuffer_Release(&sums);
    PyBuffer_Release(&labels);
    PyBuffer_Release(&vectors);
    return result;
}

#define BLOCKS_METHODS                                                                    \
    {"pack_wide", pack_wide, METH_VARARGS, pack_wide_doc},                                \
    {"unpack_wide", unpack_wide, METH_VARARGS, unpack_wide_doc},                          \
    {"paint", paint, METH_VARARGS, paint_doc},                                            \
    {"block_nearest", block_nearest, METH_VARARGS, block_nearest_doc},                    \
    {"block_sums", block_sums, METH_VARARGS, block_sums_doc},

#endif
