# Multi-stage build: compile in the Rust image, run as a non-root user on a slim base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, in a layer of their own: rebuilt only when Cargo.toml or Cargo.lock change.
# Stubs stand in for the crate's own sources (the manifest names a bench and a test target too).
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml ./
RUN mkdir -p src benches/multitenant tests/api migrations \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > benches/multitenant/main.rs && touch tests/api/main.rs \
    && cargo build --release --locked --bin vergeflow \
    && rm -rf src migrations
COPY src ./src
COPY migrations ./migrations
# The copied sources may carry older times than the stub build: touch them so VergeFlow is rebuilt.
RUN touch src/main.rs src/lib.rs build.rs && cargo build --release --locked --bin vergeflow

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin vergeflow \
    && mkdir -p /data && chown vergeflow /data
COPY --from=build /src/target/release/vergeflow /usr/local/bin/vergeflow
USER vergeflow
ENV VERGEFLOW_DATA_DIR=/data \
    VERGEFLOW_BIND=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["vergeflow"]
CMD ["serve"]
