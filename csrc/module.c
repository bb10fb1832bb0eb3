/* module.c: the CPython glue of vqcodec._core.
 *
 * Each function takes buffers (bytes, bytearray, memoryview, C-contiguous numpy arrays) and
 * integers, checks every length, shape and product for overflow before anything is
 * allocated or touched, then runs one kernel of vqcore.h with the GIL released. Holding
 * the Py_buffer for the whole call keeps a bytearray from being resized meanwhile; every
 * kernel bounds its reads by the lengths checked here, so a buffer whose contents another
 * thread changes gives a wrong answer at worst, never a read or write out of bounds.
 *
 * Kernel status codes come back to Python as negative integers; vqcodec.coding turns them
 * into FormatError in one place. Only misuse of this private module raises here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

#include "vqcore.h"

static int check_dims(Py_ssize_t width, Py_ssize_t height, Py_ssize_t channels,
                      Py_ssize_t *count) {
    if (width < 1 || height < 1 || width > UINT32_MAX || height > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "width and height must be 1..2**32-1");
        return -1;
    }
    if (channels != 1 && channels != 3 && channels != 4) {
        PyErr_SetString(PyExc_ValueError, "channels must be 1, 3 or 4");
        return -1;
    }
    if (width > PY_SSIZE_T_MAX / height / channels) {
        PyErr_SetString(PyExc_OverflowError, "width * height * channels overflows");
        return -1;
    }
    *count = width * height;
    return 0;
}

static int check_bits(int bits) {
    if (bits < 1 || bits > 8) {
        PyErr_SetString(PyExc_ValueError, "bits must be 1..8");
        return -1;
    }
    return 0;
}

static int check_length(const char *name, Py_ssize_t got, Py_ssize_t want) {
    if (got != want) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", name, got, want);
        return -1;
    }
    return 0;
}

/* A codebook of entries x channels bytes, 1 <= entries <= 256. */
static int check_codebook(const Py_buffer *codebook, Py_ssize_t channels, int *entries) {
    Py_ssize_t n = codebook->len / channels;
    if (n < 1 || n > 256 || n * channels != codebook->len) {
        PyErr_SetString(PyExc_ValueError, "codebook: must hold 1..256 entries of channels bytes");
        return -1;
    }
    *entries = (int)n;
    return 0;
}

/* The entropy codings' kernels share one shape (vqcore.h), so one glue serves both. */
typedef size_t (*work_bytes_fn)(uint32_t width);
typedef int64_t (*encode_fn)(const uint8_t *labels, uint32_t width, uint32_t height, int bits,
                             int mode, uint8_t *out, size_t capacity, void *work, size_t chunk);
typedef int64_t (*decode_fn)(const uint8_t *payload, size_t size, uint32_t width,
                             uint32_t height, int bits, uint8_t *labels, void *work);

/* vq_entropy_encode has no modes or chunks; this gives it the encoders' common signature
 * (encode_with lets only mode 0 through to it). */
static int64_t entropy1_encode(const uint8_t *labels, uint32_t width, uint32_t height, int bits,
                               int mode, uint8_t *out, size_t capacity, void *work,
                               size_t chunk) {
    (void)mode, (void)chunk;
    return vq_entropy_encode(labels, width, height, bits, out, capacity, work);
}

/* modes: the largest mode the coding has (0: none). */
static PyObject *encode_with(PyObject *args, const char *name, work_bytes_fn work_bytes,
                             encode_fn encode, int modes) {
    Py_buffer labels;
    Py_ssize_t width, height, limit, count, chunk = 0;
    int bits, mode = 0;
    if (!PyArg_ParseTuple(args, "y*nnin|ni", &labels, &width, &height, &bits, &limit, &chunk,
                          &mode))
        return NULL;
    PyObject *result = NULL;
    uint8_t *out = NULL;
    void *work = NULL;
    if (check_dims(width, height, 1, &count) || check_bits(bits) ||
        check_length("labels", labels.len, count))
        goto done;
    if (limit < 0 || chunk < 0) {
        PyErr_SetString(PyExc_ValueError, "limit and chunk must be >= 0");
        goto done;
    }
    if (mode < 0 || mode > modes || (mode && bits <= 4)) {
        PyErr_Format(PyExc_ValueError, "mode must be 0%s, not %d",
                     modes ? ", or 1 for bits > 4" : "", mode);
        goto done;
    }
    out = malloc(limit ? (size_t)limit : 1);
    work = malloc(work_bytes((uint32_t)width));
    if (!out || !work) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t size;
    Py_BEGIN_ALLOW_THREADS
    size = encode(labels.buf, (uint32_t)width, (uint32_t)height, bits, mode, out, (size_t)limit,
                  work, (size_t)chunk);
    Py_END_ALLOW_THREADS
    if (size == VQ_ERR_FULL) {
        result = Py_NewRef(Py_None);
    } else if (size == VQ_ERR_NOMEM) {
        PyErr_NoMemory();
    } else if (size < 0) {
        PyErr_Format(PyExc_RuntimeError, "%s encoder failed (%d)", name, (int)size);
    } else {
        result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)size);
    }
done:
    free(out);
    free(work);
    PyBuffer_Release(&labels);
    return result;
}

static PyObject *decode_with(PyObject *args, work_bytes_fn work_bytes, decode_fn decode) {
    Py_buffer payload, out, codebook = {0};
    Py_ssize_t width, height, channels = 1, count;
    int bits, entries = 0;
    PyObject *codebook_object = Py_None;
    if (!PyArg_ParseTuple(args, "y*nniw*|On", &payload, &width, &height, &bits, &out,
                          &codebook_object, &channels))
        return NULL;
    PyObject *result = NULL;
    void *work = NULL;
    int have_codebook = codebook_object != Py_None;
    if (have_codebook && PyObject_GetBuffer(codebook_object, &codebook, PyBUF_SIMPLE) < 0) {
        codebook_object = Py_None; /* nothing to release */
        have_codebook = 0;
        goto done;
    }
    if (!have_codebook) channels = 1;
    if (check_dims(width, height, channels, &count) || check_bits(bits) ||
        check_length("out", out.len, count * channels) ||
        (have_codebook && check_codebook(&codebook, channels, &entries)))
        goto done;
    work = malloc(work_bytes((uint32_t)width));
    if (!work) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t used;
    uint8_t *labels = (uint8_t *)out.buf + (have_codebook ? count * (channels - 1) : 0);
    Py_BEGIN_ALLOW_THREADS
    used = decode(payload.buf, (size_t)payload.len, (uint32_t)width, (uint32_t)height, bits,
                  labels, work);
    if (used >= 0 && have_codebook) {
        int status = vq_gather(labels, (uint64_t)count, codebook.buf, entries, (int)channels,
                               out.buf);
        if (status < 0) used = status;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(used);
done:
    free(work);
    if (codebook_object != Py_None) PyBuffer_Release(&codebook);
    PyBuffer_Release(&out);
    PyBuffer_Release(&payload);
    return result;
}

PyDoc_STRVAR(entropy_encode_doc,
             "entropy_encode(labels, width, height, bits, limit) -> bytes | None\n\n"
             "The entropy-coded labels (spec 4.2), or None if they take more than limit bytes.");

static PyObject *entropy_encode(PyObject *self, PyObject *args) {
    return encode_with(args, "entropy", vq_entropy_work_bytes, entropy1_encode, 0);
}

PyDoc_STRVAR(entropy_decode_doc,
             "entropy_decode(payload, width, height, bits, out, codebook=None, channels=1)"
             " -> int\n\n"
             "Decode the labels into out (width * height bytes), or, given a codebook, straight\n"
             "to pixels (width * height * channels bytes; the labels pass through out's tail).\n"
             "Returns the payload bytes consumed, or a negative status code.");

static PyObject *entropy_decode(PyObject *self, PyObject *args) {
    return decode_with(args, vq_entropy_work_bytes, vq_entropy_decode);
}

PyDoc_STRVAR(entropy2_encode_doc,
             "entropy2_encode(labels, width, height, bits, limit, chunk=0, mode=0)"
             " -> bytes | None\n\n"
             "The entropy2-coded labels (spec 4.3), or None if they take more than limit bytes.\n"
             "chunk: symbols the encoder records at a time (0: its default); the bytes do not\n"
             "depend on it. mode: literals as nibbles (0) or, for bits > 4, residuals (1).");

static PyObject *entropy2_encode(PyObject *self, PyObject *args) {
    return encode_with(args, "entropy2", vq_entropy2_work_bytes, vq_entropy2_encode_chunked, 1);
}

PyDoc_STRVAR(entropy2_decode_doc,
             "entropy2_decode(payload, width, height, bits, out, codebook=None, channels=1)"
             " -> int\n\n"
             "entropy_decode for the entropy2 coding (spec 4.3).");

static PyObject *entropy2_decode(PyObject *self, PyObject *args) {
    return decode_with(args, vq_entropy2_work_bytes, vq_entropy2_decode);
}

PyDoc_STRVAR(pack_doc, "pack(labels, bits) -> bytes\n\nPack labels at bits bits each (spec 4.1).");

static PyObject *pack(PyObject *self, PyObject *args) {
    Py_buffer labels;
    int bits;
    if (!PyArg_ParseTuple(args, "y*i", &labels, &bits)) return NULL;
    PyObject *result = NULL;
    if (check_bits(bits)) goto done;
    if (labels.len > PY_SSIZE_T_MAX / 8) {
        PyErr_SetString(PyExc_OverflowError, "too many labels");
        goto done;
    }
    Py_ssize_t size = (Py_ssize_t)vq_packed_size((uint64_t)labels.len, bits);
    result = PyBytes_FromStringAndSize(NULL, size);
    if (!result) goto done;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    vq_pack(labels.buf, (uint64_t)labels.len, bits, out);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&labels);
    return result;
}

PyDoc_STRVAR(unpack_doc,
             "unpack(payload, bits, out) -> None\n\n"
             "Unpack len(out) labels from exactly packed_size(len(out), bits) bytes.");

static PyObject *unpack(PyObject *self, PyObject *args) {
    Py_buffer payload, out;
    int bits;
    if (!PyArg_ParseTuple(args, "y*iw*", &payload, &bits, &out)) return NULL;
    PyObject *result = NULL;
    if (check_bits(bits) || out.len > PY_SSIZE_T_MAX / 8 ||
        check_length("payload", payload.len,
                     (Py_ssize_t)vq_packed_size((uint64_t)out.len, bits)))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    vq_unpack(payload.buf, (uint64_t)out.len, bits, out.buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&payload);
    return result;
}

PyDoc_STRVAR(expand_doc,
             "expand(payload, bits, codebook, channels, out) -> int\n\n"
             "Packed labels straight to pixels: len(out) // channels labels, each replaced by\n"
             "its codeword. Returns 0, or a negative status code (a label outside the codebook).");

static PyObject *expand(PyObject *self, PyObject *args) {
    Py_buffer payload, codebook, out;
    Py_ssize_t channels;
    int bits, entries;
    if (!PyArg_ParseTuple(args, "y*iy*nw*", &payload, &bits, &codebook, &channels, &out))
        return NULL;
    PyObject *result = NULL;
    int status;
    if (check_bits(bits)) goto done;
    if (channels != 1 && channels != 3 && channels != 4) {
        PyErr_SetString(PyExc_ValueError, "channels must be 1, 3 or 4");
        goto done;
    }
    Py_ssize_t count = out.len / channels;
    if (check_codebook(&codebook, channels, &entries) ||
        check_length("out", out.len, count * channels) || count > PY_SSIZE_T_MAX / 8 ||
        check_length("payload", payload.len, (Py_ssize_t)vq_packed_size((uint64_t)count, bits)))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    status = vq_expand(payload.buf, (uint64_t)count, bits, codebook.buf, entries, (int)channels,
                       out.buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLong(status);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&codebook);
    PyBuffer_Release(&payload);
    return result;
}

PyDoc_STRVAR(gather_doc,
             "gather(labels, codebook, channels, out) -> int\n\n"
             "out = codebook[labels]; 0, or a negative status code (a label outside it).");

static PyObject *gather(PyObject *self, PyObject *args) {
    Py_buffer labels, codebook, out;
    Py_ssize_t channels;
    int entries;
    if (!PyArg_ParseTuple(args, "y*y*nw*", &labels, &codebook, &channels, &out)) return NULL;
    PyObject *result = NULL;
    int status;
    if (channels != 1 && channels != 3 && channels != 4) {
        PyErr_SetString(PyExc_ValueError, "channels must be 1, 3 or 4");
        goto done;
    }
    if (check_codebook(&codebook, channels, &entries) || labels.len > PY_SSIZE_T_MAX / 4 ||
        check_length("out", out.len, labels.len * channels))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    status = vq_gather(labels.buf, (uint64_t)labels.len, codebook.buf, entries, (int)channels,
                       out.buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLong(status);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&codebook);
    PyBuffer_Release(&labels);
    return result;
}

PyDoc_STRVAR(dither_doc,
             "dither(pixels, width, height, channels, codebook, strength, out) -> int\n\n"
             "Label width x height pixels (channels bytes each) with Floyd-Steinberg error\n"
             "diffusion onto the codebook, the error scaled by strength / DITHER_FULL\n"
             "(0..DITHER_FULL); channels 4 is straight-alpha RGBA (alpha not diffused).\n"
             "Writes width * height labels to out; returns 0.");

static PyObject *dither(PyObject *self, PyObject *args) {
    Py_buffer pixels, codebook, out;
    Py_ssize_t width, height, channels, count;
    int strength, entries, status;
    if (!PyArg_ParseTuple(args, "y*nnny*iw*", &pixels, &width, &height, &channels, &codebook,
                          &strength, &out))
        return NULL;
    PyObject *result = NULL;
    void *work = NULL;
    if (check_dims(width, height, channels, &count) ||
        check_length("pixels", pixels.len, count * channels) ||
        check_codebook(&codebook, channels, &entries) || check_length("out", out.len, count))
        goto done;
    if (strength < 0 || strength > VQ_DITHER_FULL) {
        PyErr_Format(PyExc_ValueError, "strength must be 0..%d", VQ_DITHER_FULL);
        goto done;
    }
    size_t bytes = vq_dither_work_bytes((uint32_t)width, (int)channels);
    if (!bytes) {
        PyErr_SetString(PyExc_OverflowError, "width too large");
        goto done;
    }
    work = malloc(bytes);
    if (!work) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    status = vq_dither(pixels.buf, (uint32_t)width, (uint32_t)height, (int)channels,
                       codebook.buf, entries, strength, work, out.buf);
    Py_END_ALLOW_THREADS
    if (status == VQ_ERR_NOMEM) {
        PyErr_NoMemory();
    } else if (status < 0) {
        PyErr_Format(PyExc_RuntimeError, "dither failed (%d)", status);
    } else {
        result = PyLong_FromLong(status);
    }
done:
    free(work);
    PyBuffer_Release(&out);
    PyBuffer_Release(&codebook);
    PyBuffer_Release(&pixels);
    return result;
}

#include "kmeans_glue.h"
#include "blocks_glue.h"

static PyMethodDef methods[] = {
    {"entropy_encode", entropy_encode, METH_VARARGS, entropy_encode_doc},
    {"entropy_decode", entropy_decode, METH_VARARGS, entropy_decode_doc},
    {"entropy2_encode", entropy2_encode, METH_VARARGS, entropy2_encode_doc},
    {"entropy2_decode", entropy2_decode, METH_VARARGS, entropy2_decode_doc},
    {"pack", pack, METH_VARARGS, pack_doc},
    {"unpack", unpack, METH_VARARGS, unpack_doc},
    {"expand", expand, METH_VARARGS, expand_doc},
    {"gather", gather, METH_VARARGS, gather_doc},
    {"dither", dither, METH_VARARGS, dither_doc},
    KMEANS_METHODS
    BLOCKS_METHODS
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "vqcodec._core",
    "The C kernels of vqcodec (private: use vqcodec's public API).", -1, methods,
};

PyMODINIT_FUNC PyInit__core(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "ERR_OVERRUN", VQ_ERR_OVERRUN) ||
        PyModule_AddIntConstant(m, "ERR_LABEL", VQ_ERR_LABEL) ||
        PyModule_AddIntConstant(m, "ERR_RUN", VQ_ERR_RUN) ||
        PyModule_AddIntConstant(m, "ERR_STATE", VQ_ERR_STATE) ||
        PyModule_AddIntConstant(m, "DITHER_FULL", VQ_DITHER_FULL) ||
        PyModule_AddIntConstant(m, "RGB_INDEX_BYTES", (long)vq_rgb_index_bytes())) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
