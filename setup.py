"""Only the C extension; everything else is in pyproject.toml.

nlp/_speedups.c holds the analyze path's two per-post loops (the jieba word-DAG cut and the
sentiment model's distinct n-gram scoring). Building it needs a C compiler and the Python headers.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("nlp._speedups", sources=["nlp/_speedups.c"], extra_compile_args=["-O2"])])
