# The pattern for a Docker stage that compiles (docs/caching.md): sccache in front of the
# compiler, its store's credentials from a BuildKit secret that exists only while this RUN runs:
# never in a layer, the image history, a build arg or the build log.
#   docker build --secret id=sccache_conf,src=<sccache config with the Redis password> ...
# Built by test_build_secrets.py, which plants a fake password and looks for it everywhere.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY sccache /usr/local/bin/sccache
COPY hello.c /src/hello.c
RUN --mount=type=secret,id=sccache_conf \
    export SCCACHE_CONF=/run/secrets/sccache_conf SCCACHE_SERVER_UDS=/tmp/sccache.sock \
           SCCACHE_IGNORE_SERVER_IO_ERROR=1 \
 && sccache gcc -c /src/hello.c -o /src/hello.o \
 && sccache --show-stats \
 && sccache --stop-server
