"""Comparison report of soak results (markdown + PNG plots); runs on the host, not in images.

Not part of the dynamo_ci_tools wheel (the images' copy stays standard-library-only): it
plots with matplotlib from the tools resolve.

    ./pants run src/python/dynamo_ci_tools/report:report -- RESULT.json... --out DIR
"""
