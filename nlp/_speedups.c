/* nlp._speedups: the per-post loops of the analyze path, in C.
 *
 * Each mirrors a Python reference kept beside its caller (nlp/segment.py `Segmenter.cut_python`,
 * nlp/sentiment.py `SentimentModel.positive_probability_python`, the MinHash definition in
 * tests/nlp/test_dedup.py); tests hold the C versions to them on random and hostile text. They exist
 * because these loops were most of the time of `nlp.analyze` per post, and each step is too small
 * for Python's per-bytecode cost (the goal: the whole analyze path at >= 50x stock snownlp).
 *
 * WordTable(logp: dict[str, float | None], fallback: float)
 *     jieba's dictionary as the Python cutter reads it: every word and word prefix mapped to
 *     log(freq / total), or None for a prefix that is not itself a word; `fallback` scores a
 *     character that starts no word. Keys are stored as code points in an open-addressing table
 *     (FNV-1a hash, compared in full), so a lookup allocates nothing.
 *     .cut(clause, words_only=False) -> list[str]: jieba's no-HMM cut of one block of Han/ASCII
 *     text: the most probable path through the word DAG, computed right to left, ties to the
 *     longer word; consecutive single ASCII letters/digits glued back together. `words_only`
 *     drops tokens made only of the block's separators (+ # & . _ % -). The float arithmetic is the
 *     Python cutter's (one double addition per candidate), so ties break as they do there and in
 *     jieba.
 *
 * NgramTable(weights: dict[str, float])
 *     The entries of `weights` whose key is 1 to 3 characters long, keyed by their code points.
 *     .score(chars) -> (total, distinct, known): over the *distinct* 1-, 2- and 3-character
 *     substrings of `chars`, the sum of the weights of those in the table, how many distinct
 *     substrings there were, and how many of them were in the table. This is the character n-gram
 *     half of the linear sentiment model's `set(features)` scoring.
 *
 * minhash(reduced, a, b, short_len) -> tuple[int, ...]
 *     nlp.dedup's MinHash signature of one reduced text: CRC32 of each character shingle's UTF-8
 *     bytes (3-grams, 2-grams for texts under `short_len` characters, the whole text if no longer
 *     than the shingle), then min over shingles of (a[k] * h + b[k]) mod (2^31 - 1) for each
 *     permutation k; `a` and `b` are the int64 parameters as bytes. () for an empty text.
 *
 * An n-gram is keyed exactly, not hashed: each code point plus one (so 0 means "absent") takes 21
 * bits, three of them fit in 63 bits.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* WordTable                                                                                      */

static int
is_ascii_alnum(Py_UCS4 ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static inline uint64_t
fnv_step(uint64_t h, Py_UCS4 c)
{
    return (h ^ (uint64_t)c) * FNV_PRIME;
}

static inline size_t
slot_of(uint64_t key, int shift)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> shift);
}

typedef struct {
    uint64_t hash;
    uint32_t offset; /* into WordTable.chars */
    uint32_t length; /* 0 = empty slot */
    double value;    /* log probability when is_word */
    int is_word;     /* 0 for a prefix that is not itself a word */
} WordEntry;

typedef struct {
    PyObject_HEAD
    WordEntry *slots;
    size_t capacity;
    int shift;
    Py_UCS4 *chars; /* every key's code points, back to back */
    size_t n_chars;
    double fallback;
    Py_ssize_t size;
} WordTable;

static void
WordTable_dealloc(WordTable *self)
{
    PyMem_Free(self->slots);
    PyMem_Free(self->chars);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The slot holding `key` (its code points and their FNV hash), or the empty slot where it would go. */
static inline WordEntry *
word_slot(const WordTable *self, uint64_t hash, const Py_UCS4 *key, uint32_t length)
{
    size_t mask = self->capacity - 1;
    size_t slot = slot_of(hash, self->shift);
    for (;;) {
        WordEntry *entry = &self->slots[slot];
        if (entry->length == 0) {
            return entry;
        }
        if (entry->hash == hash && entry->length == length &&
            memcmp(self->chars + entry->offset, key, length * sizeof(Py_UCS4)) == 0) {
            return entry;
        }
        slot = (slot + 1) & mask;
    }
}

static int
WordTable_init(WordTable *self, PyObject *args, PyObject *kwds)
{
    PyObject *logp;
    double fallback;
    static char *kwlist[] = {"logp", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!d:WordTable", kwlist, &PyDict_Type, &logp, &fallback)) {
        return -1;
    }
    /* First pass: sizes and types. */
    size_t n_chars = 0;
    Py_ssize_t pos = 0;
    PyObject *name, *value;
    while (PyDict_Next(logp, &pos, &name, &value)) {
        if (!PyUnicode_Check(name) || PyUnicode_GET_LENGTH(name) == 0) {
            PyErr_SetString(PyExc_TypeError, "WordTable keys must be non-empty str");
            return -1;
        }
        if (value != Py_None && !PyFloat_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "WordTable values must be float or None");
            return -1;
        }
        n_chars += (size_t)PyUnicode_GET_LENGTH(name);
    }
    if (n_chars > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "dictionary too large");
        return -1;
    }
    Py_ssize_t entries = PyDict_GET_SIZE(logp);
    size_t capacity = 16;
    int bits = 4;
    while (capacity < (size_t)entries * 2 + 16) {
        capacity <<= 1;
        bits++;
    }
    PyMem_Free(self->slots);
    PyMem_Free(self->chars);
    self->slots = PyMem_Calloc(capacity, sizeof(WordEntry));
    self->chars = PyMem_Malloc((n_chars + 1) * sizeof(Py_UCS4));
    if (self->slots == NULL || self->chars == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->capacity = capacity;
    self->shift = 64 - bits;
    self->fallback = fallback;
    self->size = 0;
    size_t used = 0;
    pos = 0;
    while (PyDict_Next(logp, &pos, &name, &value)) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(name);
        int kind = PyUnicode_KIND(name);
        const void *data = PyUnicode_DATA(name);
        Py_UCS4 *key = self->chars + used;
        uint64_t hash = FNV_BASIS;
        for (Py_ssize_t i = 0; i < length; i++) {
            key[i] = PyUnicode_READ(kind, data, i);
            hash = fnv_step(hash, key[i]);
        }
        WordEntry *entry = word_slot(self, hash, key, (uint32_t)length);
        if (entry->length == 0) { /* new key: keep its code points */
            entry->hash = hash;
            entry->offset = (uint32_t)used;
            entry->length = (uint32_t)length;
            used += (size_t)length;
            self->size++;
        }
        entry->is_word = value != Py_None;
        entry->value = value != Py_None ? PyFloat_AS_DOUBLE(value) : 0.0;
    }
    self->n_chars = used;
    return 0;
}

/* jieba's separators inside a Han/ASCII block; a token made only of these is not a word. */
static int
is_block_symbol(Py_UCS4 ch)
{
    return ch == '+' || ch == '#' || ch == '&' || ch == '.' || ch == '_' || ch == '%' || ch == '-';
}

static int
append_slice(PyObject *out, PyObject *clause, Py_ssize_t start, Py_ssize_t end, const Py_UCS4 *cp,
             int words_only)
{
    if (words_only) {
        Py_ssize_t k = start;
        while (k < end && is_block_symbol(cp[k])) {
            k++;
        }
        if (k == end) {
            return 0;
        }
    }
    PyObject *word = PyUnicode_Substring(clause, start, end);
    if (word == NULL) {
        return -1;
    }
    int rc = PyList_Append(out, word);
    Py_DECREF(word);
    return rc;
}

static PyObject *
WordTable_cut(WordTable *self, PyObject *args, PyObject *kwds)
{
    PyObject *clause;
    int words_only = 0;
    static char *kwlist[] = {"clause", "words_only", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|p:cut", kwlist, &clause, &words_only)) {
        return NULL;
    }
    if (self->slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "WordTable was not initialised");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(clause);
    PyObject *out = PyList_New(0);
    if (out == NULL || n == 0) {
        return out;
    }
    Py_UCS4 *cp = PyUnicode_AsUCS4Copy(clause);
    double *route = PyMem_Malloc((size_t)(n + 1) * sizeof(double));
    Py_ssize_t *next = PyMem_Malloc((size_t)n * sizeof(Py_ssize_t));
    if (cp == NULL || route == NULL || next == NULL) {
        PyMem_Free(cp);
        PyMem_Free(route);
        PyMem_Free(next);
        Py_DECREF(out);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    route[n] = 0.0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        int have = 0;
        double best = 0.0;
        Py_ssize_t end = i + 1;
        uint64_t hash = FNV_BASIS;
        /* Candidate words are found by extending a prefix while the table still has it (it holds
         * every prefix of every word). */
        for (Py_ssize_t j = i + 1; j <= n; j++) {
            hash = fnv_step(hash, cp[j - 1]);
            const WordEntry *entry = word_slot(self, hash, cp + i, (uint32_t)(j - i));
            if (entry->length == 0) {
                break;
            }
            if (entry->is_word) {
                double score = entry->value + route[j];
                if (!have || score >= best) { /* ">=": ties go to the longer word */
                    best = score;
                    end = j;
                    have = 1;
                }
            }
        }
        if (!have) {
            best = self->fallback + route[i + 1];
            end = i + 1;
        }
        route[i] = best;
        next[i] = end;
    }
    Py_ssize_t glued = -1; /* start of a run of single ASCII letters/digits, or -1 */
    Py_ssize_t x = 0;
    while (x < n) {
        Py_ssize_t y = next[x];
        if (y - x == 1 && is_ascii_alnum(cp[x])) {
            if (glued < 0) {
                glued = x;
            }
        }
        else {
            if (glued >= 0) {
                if (append_slice(out, clause, glued, x, cp, words_only) < 0) {
                    goto error;
                }
                glued = -1;
            }
            if (append_slice(out, clause, x, y, cp, words_only) < 0) {
                goto error;
            }
        }
        x = y;
    }
    if (glued >= 0 && append_slice(out, clause, glued, n, cp, words_only) < 0) {
        goto error;
    }
    PyMem_Free(cp);
    PyMem_Free(route);
    PyMem_Free(next);
    return out;

error:
    PyMem_Free(cp);
    PyMem_Free(route);
    PyMem_Free(next);
    Py_DECREF(out);
    return NULL;
}

static Py_ssize_t
WordTable_length(WordTable *self)
{
    return self->size;
}

static PyMethodDef WordTable_methods[] = {
    {"cut", (PyCFunction)(void (*)(void))WordTable_cut, METH_VARARGS | METH_KEYWORDS,
     "cut(clause, words_only=False) -> tokens of jieba's no-HMM cut of one Han/ASCII block;\n"
     "words_only drops tokens made only of the separators + # & . _ % -"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods WordTable_as_sequence = {
    .sq_length = (lenfunc)WordTable_length,
};

static PyTypeObject WordTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nlp._speedups.WordTable",
    .tp_doc = PyDoc_STR("jieba's words and word prefixes with their log probabilities, for cutting"),
    .tp_basicsize = sizeof(WordTable),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)WordTable_init,
    .tp_dealloc = (destructor)WordTable_dealloc,
    .tp_methods = WordTable_methods,
    .tp_as_sequence = &WordTable_as_sequence,
};

/* ---------------------------------------------------------------------------------------------- */
/* NgramTable                                                                                     */

#define CP_BITS 21

static inline uint64_t
gram_key(Py_UCS4 a, Py_UCS4 b, Py_UCS4 c)
{
    /* b, c are 0 for shorter grams; the others are code point + 1. */
    return (uint64_t)a | ((uint64_t)b << CP_BITS) | ((uint64_t)c << (2 * CP_BITS));
}

typedef struct {
    PyObject_HEAD
    uint64_t *keys; /* 0 = empty slot */
    double *values;
    int shift;      /* 64 - log2(capacity) */
    size_t capacity;
    Py_ssize_t size;
} NgramTable;

static void
NgramTable_dealloc(NgramTable *self)
{
    PyMem_Free(self->keys);
    PyMem_Free(self->values);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
key_of_string(PyObject *s, uint64_t *key)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    if (len < 1 || len > 3) {
        return 0;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_UCS4 cp[3] = {0, 0, 0};
    for (Py_ssize_t i = 0; i < len; i++) {
        cp[i] = PyUnicode_READ(kind, data, i) + 1;
    }
    *key = gram_key(cp[0], cp[1], cp[2]);
    return 1;
}

static int
NgramTable_init(NgramTable *self, PyObject *args, PyObject *kwds)
{
    PyObject *weights;
    static char *kwlist[] = {"weights", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!:NgramTable", kwlist, &PyDict_Type, &weights)) {
        return -1;
    }
    Py_ssize_t entries = PyDict_GET_SIZE(weights);
    size_t capacity = 16;
    int bits = 4;
    while (capacity < (size_t)entries * 2 + 16) {
        capacity <<= 1;
        bits++;
    }
    PyMem_Free(self->keys);
    PyMem_Free(self->values);
    self->keys = PyMem_Calloc(capacity, sizeof(uint64_t));
    self->values = PyMem_Calloc(capacity, sizeof(double));
    if (self->keys == NULL || self->values == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->capacity = capacity;
    self->shift = 64 - bits;
    self->size = 0;
    Py_ssize_t pos = 0;
    PyObject *name, *weight;
    while (PyDict_Next(weights, &pos, &name, &weight)) {
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "NgramTable keys must be str");
            return -1;
        }
        uint64_t key;
        if (!key_of_string(name, &key)) {
            continue;
        }
        double value = PyFloat_AsDouble(weight);
        if (value == -1.0 && PyErr_Occurred()) {
            return -1;
        }
        size_t slot = slot_of(key, self->shift);
        while (self->keys[slot] != 0 && self->keys[slot] != key) {
            slot = (slot + 1) & (capacity - 1);
        }
        if (self->keys[slot] == 0) {
            self->keys[slot] = key;
            self->size++;
        }
        self->values[slot] = value;
    }
    return 0;
}

/* Inserts `key` into the scratch set; 1 if it was new. */
static inline int
scratch_add(uint64_t *set, size_t mask, int shift, uint64_t key)
{
    size_t slot = slot_of(key, shift);
    while (set[slot] != 0) {
        if (set[slot] == key) {
            return 0;
        }
        slot = (slot + 1) & mask;
    }
    set[slot] = key;
    return 1;
}

static inline int
table_get(const NgramTable *self, uint64_t key, double *value)
{
    size_t mask = self->capacity - 1;
    size_t slot = slot_of(key, self->shift);
    while (self->keys[slot] != 0) {
        if (self->keys[slot] == key) {
            *value = self->values[slot];
            return 1;
        }
        slot = (slot + 1) & mask;
    }
    return 0;
}

#define SCRATCH_ON_STACK 2048

static PyObject *
NgramTable_score(NgramTable *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "score() takes a str");
        return NULL;
    }
    if (self->keys == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "NgramTable was not initialised");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    size_t grams = (size_t)(n > 0 ? 3 * n : 1);
    size_t capacity = 16;
    int bits = 4;
    while (capacity < grams * 2) {
        capacity <<= 1;
        bits++;
    }
    uint64_t stack_set[SCRATCH_ON_STACK];
    uint64_t *set = stack_set;
    if (capacity <= SCRATCH_ON_STACK) {
        memset(stack_set, 0, capacity * sizeof(uint64_t));
    }
    else {
        set = PyMem_Calloc(capacity, sizeof(uint64_t));
        if (set == NULL) {
            return PyErr_NoMemory();
        }
    }
    size_t mask = capacity - 1;
    int shift = 64 - bits;
    double total = 0.0;
    Py_ssize_t distinct = 0, known = 0;
    Py_UCS4 a = 0, b = 0; /* the two previous code points + 1 */
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i) + 1;
        uint64_t keys[3] = {gram_key(c, 0, 0), gram_key(b, c, 0), gram_key(a, b, c)};
        int count = i >= 2 ? 3 : (int)i + 1;
        for (int k = 0; k < count; k++) {
            if (scratch_add(set, mask, shift, keys[k])) {
                double value;
                distinct++;
                if (table_get(self, keys[k], &value)) {
                    total += value;
                    known++;
                }
            }
        }
        a = b;
        b = c;
    }
    if (set != stack_set) {
        PyMem_Free(set);
    }
    return Py_BuildValue("(dnn)", total, distinct, known);
}

static Py_ssize_t
NgramTable_length(NgramTable *self)
{
    return self->size;
}

static PyMethodDef NgramTable_methods[] = {
    {"score", (PyCFunction)NgramTable_score, METH_O,
     "score(chars) -> (total, distinct, known) over the distinct 1-3-character substrings"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods NgramTable_as_sequence = {
    .sq_length = (lenfunc)NgramTable_length,
};

static PyTypeObject NgramTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "nlp._speedups.NgramTable",
    .tp_doc = PyDoc_STR("weights of 1-3-character strings, for scoring the distinct n-grams of a text"),
    .tp_basicsize = sizeof(NgramTable),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)NgramTable_init,
    .tp_dealloc = (destructor)NgramTable_dealloc,
    .tp_methods = NgramTable_methods,
    .tp_as_sequence = &NgramTable_as_sequence,
};

/* ---------------------------------------------------------------------------------------------- */
/* minhash                                                                                        */

static uint32_t crc_table[256];

static void
crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? UINT32_C(0xEDB88320) ^ (c >> 1) : c >> 1;
        }
        crc_table[n] = c;
    }
}

/* zlib's crc32 (the same values as Python's zlib.crc32). */
static uint32_t
crc32_of(const unsigned char *bytes, Py_ssize_t length)
{
    uint32_t c = UINT32_C(0xFFFFFFFF);
    for (Py_ssize_t i = 0; i < length; i++) {
        c = crc_table[(c ^ bytes[i]) & 0xFF] ^ (c >> 8);
    }
    return c ^ UINT32_C(0xFFFFFFFF);
}

#define MINHASH_PRIME ((UINT64_C(1) << 31) - 1)

static PyObject *
speedups_minhash(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer a_buf, b_buf;
    Py_ssize_t short_len;
    if (!PyArg_ParseTuple(args, "Uy*y*n:minhash", &text, &a_buf, &b_buf, &short_len)) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t *offsets = NULL;
    uint64_t *mins = NULL;
    Py_ssize_t perms = a_buf.len / (Py_ssize_t)sizeof(int64_t);
    if (a_buf.len != b_buf.len || a_buf.len % (Py_ssize_t)sizeof(int64_t) != 0 || perms == 0) {
        PyErr_SetString(PyExc_ValueError, "a and b must be int64 arrays of the same non-zero length");
        goto done;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n == 0) {
        result = PyTuple_New(0);
        goto done;
    }
    Py_ssize_t size_in_bytes;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size_in_bytes);
    if (utf8 == NULL) {
        goto done;
    }
    /* offsets[i]: where character i starts in the UTF-8 bytes; offsets[n] the end. */
    offsets = PyMem_Malloc((size_t)(n + 1) * sizeof(Py_ssize_t));
    mins = PyMem_Malloc((size_t)perms * sizeof(uint64_t));
    if (offsets == NULL || mins == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t ch = 0;
    for (Py_ssize_t i = 0; i < size_in_bytes; i++) {
        if (((unsigned char)utf8[i] & 0xC0) != 0x80) {
            offsets[ch++] = i;
        }
    }
    offsets[n] = size_in_bytes;
    const int64_t *a = a_buf.buf, *b = b_buf.buf;
    for (Py_ssize_t k = 0; k < perms; k++) {
        mins[k] = UINT64_MAX;
    }
    /* Character 3-grams, 2-grams below `short_len` characters, the whole text if it is no longer
     * than that; duplicates do not change a minimum, so the shingle set is never built. */
    Py_ssize_t size = n < short_len ? 2 : 3;
    Py_ssize_t count = n <= size ? 1 : n - size + 1;
    if (n <= size) {
        size = n;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        uint64_t h = crc32_of((const unsigned char *)utf8 + offsets[i], offsets[i + size] - offsets[i]);
        for (Py_ssize_t k = 0; k < perms; k++) {
            /* a < 2^31 and h < 2^32: a*h + b < 2^63, no overflow before the modulus. */
            uint64_t v = ((uint64_t)a[k] * h + (uint64_t)b[k]) % MINHASH_PRIME;
            if (v < mins[k]) {
                mins[k] = v;
            }
        }
    }
    result = PyTuple_New(perms);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t k = 0; k < perms; k++) {
        PyObject *value = PyLong_FromUnsignedLongLong(mins[k]);
        if (value == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyTuple_SET_ITEM(result, k, value);
    }

done:
    PyMem_Free(offsets);
    PyMem_Free(mins);
    PyBuffer_Release(&a_buf);
    PyBuffer_Release(&b_buf);
    return result;
}

/* ---------------------------------------------------------------------------------------------- */

static PyMethodDef speedups_methods[] = {
    {"minhash", speedups_minhash, METH_VARARGS,
     "minhash(reduced, a, b, short_len) -> MinHash signature of a reduced text (see nlp/dedup.py)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "nlp._speedups",
    .m_doc = "C loops of the analyze path: the word-DAG cut and distinct n-gram scoring.",
    .m_size = -1,
    .m_methods = speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    crc_init();
    if (PyType_Ready(&NgramTableType) < 0 || PyType_Ready(&WordTableType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&NgramTableType);
    if (PyModule_AddObject(module, "NgramTable", (PyObject *)&NgramTableType) < 0) {
        Py_DECREF(&NgramTableType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&WordTableType);
    if (PyModule_AddObject(module, "WordTable", (PyObject *)&WordTableType) < 0) {
        Py_DECREF(&WordTableType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
