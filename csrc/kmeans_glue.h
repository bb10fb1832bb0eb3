/* kmeans_glue.h: the CPython glue of the colour k-means kernels (kmeans.c).
 *
 * Included by module.c after its helpers; defines KMEANS_METHODS, its method-table entries.
 * Same rules as module.c: every length, shape and product is checked before anything is
 * allocated, the GIL is released while a kernel runs, and a buffer another thread could
 * change meanwhile either only bounds nothing (pixel values) or is copied first (weights).
 */
#ifndef KMEANS_GLUE_H
#define KMEANS_GLUE_H

#include <stdint.h>
#include <string.h>

static int check_aligned(const char *name, const Py_buffer *buffer, size_t alignment) {
    if ((uintptr_t)buffer->buf % alignment) {
        PyErr_Format(PyExc_ValueError, "%s: must be aligned to %zu bytes", name, alignment);
        return -1;
    }
    return 0;
}

static int check_channels(Py_ssize_t channels) {
    if (channels != 3 && channels != 4) {
        PyErr_SetString(PyExc_ValueError, "channels must be 3 or 4");
        return -1;
    }
    return 0;
}

/* rows x channels bytes, 1 <= rows <= limit. */
static int check_rows(const char *name, const Py_buffer *buffer, Py_ssize_t channels,
                      Py_ssize_t limit, Py_ssize_t *rows) {
    Py_ssize_t n = buffer->len / channels;
    if (n < 1 || n * channels != buffer->len || n > limit) {
        PyErr_Format(PyExc_ValueError, "%s: must hold 1..%zd rows of %zd bytes", name, limit,
                     channels);
        return -1;
    }
    *rows = n;
    return 0;
}

PyDoc_STRVAR(rgb_mark_doc,
             "rgb_mark(pixels, index) -> None\n\n"
             "Set the presence bits of RGB pixels (3 bytes each) in index (a writable,\n"
             "8-byte-aligned buffer of RGB_INDEX_BYTES, its presence map zeroed by the caller\n"
             "or holding other pixels' bits). Parts of an image may be marked into separate\n"
             "indexes on separate threads, their presence maps OR-ed, then ranked.");

static PyObject *rgb_mark(PyObject *self, PyObject *args) {
    Py_buffer pixels, index;
    if (!PyArg_ParseTuple(args, "y*w*", &pixels, &index)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t count;
    if (check_rows("pixels", &pixels, 3, PY_SSIZE_T_MAX, &count) ||
        check_length("index", index.len, (Py_ssize_t)vq_rgb_index_bytes()) ||
        check_aligned("index", &index, sizeof(uint64_t)))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    vq_rgb_mark(pixels.buf, (uint64_t)count, index.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&index);
    PyBuffer_Release(&pixels);
    return result;
}

PyDoc_STRVAR(rgb_rank_doc,
             "rgb_rank(index) -> int\n\n"
             "Complete an index whose presence map is marked: the number of distinct colours.");

static PyObject *rgb_rank(PyObject *self, PyObject *args) {
    Py_buffer index;
    if (!PyArg_ParseTuple(args, "w*", &index)) return NULL;
    PyObject *result = NULL;
    uint32_t n;
    if (check_length("index", index.len, (Py_ssize_t)vq_rgb_index_bytes()) ||
        check_aligned("index", &index, sizeof(uint64_t)))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    n = vq_rgb_rank(index.buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromUnsignedLong(n);
done:
    PyBuffer_Release(&index);
    return result;
}

PyDoc_STRVAR(rgb_histogram_doc,
             "rgb_histogram(pixels, index, colours) -> (rgb, counts)\n\n"
             "The colours of a ranked index holding every pixel's colour (colours of them,\n"
             "as rgb_rank counted) in ascending order (3 bytes each), and how many of the\n"
             "pixels have each (native uint64 each). Counts of parts of an image add up.");

static PyObject *rgb_histogram(PyObject *self, PyObject *args) {
    Py_buffer pixels, index;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*y*n", &pixels, &index, &n)) return NULL;
    PyObject *colours = NULL, *counts = NULL, *result = NULL;
    Py_ssize_t count;
    int status;
    if (check_rows("pixels", &pixels, 3, PY_SSIZE_T_MAX, &count) ||
        check_length("index", index.len, (Py_ssize_t)vq_rgb_index_bytes()) ||
        check_aligned("index", &index, sizeof(uint64_t)))
        goto done;
    if (n < 1 || n > (Py_ssize_t)1 << 24) {
        PyErr_SetString(PyExc_ValueError, "colours: must be 1..2**24");
        goto done;
    }
    /* n <= 2**24, so these sizes cannot overflow. */
    colours = PyBytes_FromStringAndSize(NULL, n * 3);
    counts = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(uint64_t));
    if (!colours || !counts) goto done;
    uint8_t *rgb = (uint8_t *)PyBytes_AS_STRING(colours);
    uint64_t *weights = (uint64_t *)PyBytes_AS_STRING(counts);
    Py_BEGIN_ALLOW_THREADS
    status = vq_rgb_histogram(pixels.buf, (uint64_t)count, index.buf, (uint32_t)n, rgb, weights);
    Py_END_ALLOW_THREADS
    if (status < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "rgb_histogram: the index does not hold exactly colours colours, or "
                        "lacks a pixel's");
        goto done;
    }
    result = PyTuple_Pack(2, colours, counts);
done:
    Py_XDECREF(colours);
    Py_XDECREF(counts);
    PyBuffer_Release(&index);
    PyBuffer_Release(&pixels);
    return result;
}

PyDoc_STRVAR(rgb_labels_doc,
             "rgb_labels(pixels, index, colour_labels, out) -> int\n\n"
             "out[i] = colour_labels[position of pixel i's colour], the index from\n"
             "rgb_mark and rgb_rank of the same pixels. Returns 0, or a negative status code when a\n"
             "pixel's colour is not in the index or past colour_labels.");

static PyObject *rgb_labels(PyObject *self, PyObject *args) {
    Py_buffer pixels, index, colour_labels, out;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &pixels, &index, &colour_labels, &out)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t count;
    int status;
    if (check_rows("pixels", &pixels, 3, PY_SSIZE_T_MAX, &count) ||
        check_length("index", index.len, (Py_ssize_t)vq_rgb_index_bytes()) ||
        check_aligned("index", &index, sizeof(uint64_t)) || check_length("out", out.len, count))
        goto done;
    if (colour_labels.len < 1 || colour_labels.len > (Py_ssize_t)1 << 24) {
        PyErr_SetString(PyExc_ValueError, "colour_labels: must hold 1..2**24 labels");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    status = vq_rgb_labels(pixels.buf, (uint64_t)count, index.buf, colour_labels.buf,
                           (uint32_t)colour_labels.len, out.buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLong(status);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&colour_labels);
    PyBuffer_Release(&index);
    PyBuffer_Release(&pixels);
    return result;
}

PyDoc_STRVAR(kmeans_doc,
             "kmeans(colours, counts, channels, k, seed, centres, assignment) -> None\n\n"
             "Weighted k-means of n distinct colours (n x channels bytes) with counts (n\n"
             "native uint64, total below 2**48) as weights, 1 <= k <= min(n, 256): writes the\n"
             "k centres (k x channels float64) and each colour's cluster (n bytes).");

static PyObject *kmeans(PyObject *self, PyObject *args) {
    Py_buffer colours, counts, centres, assignment;
    Py_ssize_t channels, k, n;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "y*y*nnKw*w*", &colours, &counts, &channels, &k, &seed,
                          &centres, &assignment))
        return NULL;
    PyObject *result = NULL;
    uint64_t *weights = NULL;
    int status;
    /* n fits the kernel's uint32_t, and n * 8 (the counts' length) fits Py_ssize_t. */
    const Py_ssize_t most = PY_SSIZE_T_MAX / 8 < UINT32_MAX ? PY_SSIZE_T_MAX / 8 : UINT32_MAX;
    if (check_channels(channels) || check_rows("colours", &colours, channels, most, &n) ||
        check_length("counts", counts.len, n * (Py_ssize_t)sizeof(uint64_t)) ||
        check_length("assignment", assignment.len, n))
        goto done;
    if (k < 1 || k > 256 || k > n) {
        PyErr_SetString(PyExc_ValueError, "k must be 1..min(256, number of colours)");
        goto done;
    }
    if (check_length("centres", centres.len, k * channels * (Py_ssize_t)sizeof(double)) ||
        check_aligned("centres", &centres, sizeof(double)))
        goto done;
    /* A private copy: the weights bound the sums, so they must not change mid-call. */
    weights = malloc((size_t)counts.len);
    if (!weights) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(weights, counts.buf, (size_t)counts.len);
    Py_BEGIN_ALLOW_THREADS
    status = vq_kmeans(colours.buf, weights, (uint32_t)n, (int)channels, (int)k, seed,
                       centres.buf, assignment.buf);
    Py_END_ALLOW_THREADS
    if (status == VQ_ERR_NOMEM) {
        PyErr_NoMemory();
    } else if (status == VQ_ERR_ARGS) {
        PyErr_SetString(PyExc_ValueError, "counts: total must be below 2**48");
    } else if (status < 0) {
        PyErr_Format(PyExc_RuntimeError, "kmeans failed (%d)", status);
    } else {
        result = Py_NewRef(Py_None);
    }
done:
    free(weights);
    PyBuffer_Release(&assignment);
    PyBuffer_Release(&centres);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&colours);
    return result;
}

PyDoc_STRVAR(nearest_doc,
             "nearest(points, channels, codebook, hint, out, premultiplied=False) -> int\n\n"
             "out[i] = index of the codeword nearest point i (squared Euclidean, exact; ties\n"
             "to the lower index). hint (one label per point, or None) is where each search\n"
             "starts. premultiplied (channels 4): straight-alpha RGBA compared as\n"
             "premultiplied colours (vq_nearest_rgba). Returns 0, or a negative status code\n"
             "(a hint outside the codebook).");

static PyObject *nearest(PyObject *self, PyObject *args) {
    Py_buffer points, codebook, hint = {0}, out;
    Py_ssize_t channels, n, entries;
    PyObject *hint_object;
    int premultiplied = 0;
    if (!PyArg_ParseTuple(args, "y*ny*Ow*|p", &points, &channels, &codebook, &hint_object, &out,
                          &premultiplied))
        return NULL;
    PyObject *result = NULL;
    int have_hint = hint_object != Py_None, status;
    if (have_hint && PyObject_GetBuffer(hint_object, &hint, PyBUF_SIMPLE) < 0) {
        have_hint = 0;
        goto done;
    }
    if (premultiplied && channels != 4) {
        PyErr_SetString(PyExc_ValueError, "premultiplied: channels must be 4");
        goto done;
    }
    if (check_channels(channels) ||
        check_rows("points", &points, channels, PY_SSIZE_T_MAX, &n) ||
        check_rows("codebook", &codebook, channels, 256, &entries) ||
        check_length("out", out.len, n) || (have_hint && check_length("hint", hint.len, n)))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    if (premultiplied)
        status = vq_nearest_rgba(points.buf, (uint64_t)n, codebook.buf, (int)entries,
                                 have_hint ? hint.buf : NULL, out.buf);
    else
        status = vq_nearest(points.buf, (uint64_t)n, (int)channels, codebook.buf,
                            (int)entries, have_hint ? hint.buf : NULL, out.buf);
    Py_END_ALLOW_THREADS
    if (status == VQ_ERR_NOMEM) {
        PyErr_NoMemory();
    } else {
        result = PyLong_FromLong(status);
    }
done:
    if (have_hint) PyBuffer_Release(&hint);
    PyBuffer_Release(&out);
    PyBuffer_Release(&codebook);
    PyBuffer_Release(&points);
    return result;
}

#define KMEANS_METHODS                                                                    \
    {"rgb_mark", rgb_mark, METH_VARARGS, rgb_mark_doc},                                   \
    {"rgb_rank", rgb_rank, METH_VARARGS, rgb_rank_doc},                                   \
    {"rgb_histogram", rgb_histogram, METH_VARARGS, rgb_histogram_doc},                    \
    {"rgb_labels", rgb_labels, METH_VARARGS, rgb_labels_doc},                             \
    {"kmeans", kmeans, METH_VARARGS, kmeans_doc},                                         \
    {"nearest", nearest, METH_VARARGS, nearest_doc},

#endif
