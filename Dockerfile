# The Plumbline controller image: `plumbline controller` on a slim Debian.
#
#   docker build -t plumbline:dev .
#   plumbline install --print --image plumbline:dev | kubectl apply -f -
#
# Stage 1 builds the `plumbline` binary from this workspace (host crates
# only; policy guests are not needed to build the binary) with the features
# `cli` and `controller` and without `policy-build`: the controller runs
# built components (`.wasm`, by path in the repository or by URL) and never
# runs cargo, clang or node, so none of that is linked in. Stage 2 is the
# runtime: the binary, CA certificates for HTTPS Git remotes and policy
# module URLs, and `ssh` for ssh:// sources. It runs as a non-root user
# with a read-only root filesystem; the Deployment mounts an emptyDir at
# /var/cache/plumbline (Git cache, compiled policies) and /tmp.
#
# This file is not built in CI (no container engine there); the binary it
# builds is the one CI builds and tests.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p plumbline --bin plumbline \
        --no-default-features --features cli,controller \
    && cp target/release/plumbline /usr/local/bin/plumbline

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates openssh-client \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/plumbline /usr/local/bin/plumbline
# 65532: the conventional "nonroot" user of distroless images.
USER 65532:65532
ENV HOME=/tmp
EXPOSE 8080
ENTRYPOINT ["plumbline"]
CMD ["controller"]
