"""Build of the C core: one extension module, vqcodec._core, from plain C99 sources."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vqcodec._core",
            sources=[
                "vqcodec/_core/module.c",
                "vqcodec/_core/entropy.c",
                "vqcodec/_core/pack.c",
                "vqcodec/_core/kmeans.c",
            ],
            depends=["vqcodec/_core/vqcore.h", "vqcodec/_core/kmeans_glue.h"],
            # -ffp-contract=off: no fused multiply-adds, so float results (k-means) are the
            # same whatever the compiler chooses to contract.
            extra_compile_args=["-std=c99", "-O2", "-ffp-contract=off"],
        )
    ]
)
