# kez-chat-server: the web client built and embedded into one static-ish binary.
# Build from the repository root:  docker build -t kez-chat-server .
# Just the binary (for Dockerfile.runtime, the fast path):
#   docker build --target export --output type=local,dest=prebuilt .
# .dockerignore keeps target/, node_modules/, databases and caches out of the context.

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM rust:1.95-bookworm AS server
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo/ .cargo/
COPY crates/ crates/
COPY src/ src/
COPY benches/ benches/
COPY examples/ examples/
COPY tests/ tests/
COPY --from=web /src/web/dist web/dist
RUN cargo build --release --locked --features embed-web \
 && strip target/release/kez-chat-server

# Just the artifacts, for `docker build --target export --output type=local,dest=prebuilt .`
# (prebuilt/kez-chat-server, what Dockerfile.runtime copies).
FROM scratch AS export
COPY --from=server /src/target/release/kez-chat-server /kez-chat-server

FROM debian:bookworm-slim AS runtime
# ca-certificates unpinned on purpose: it should follow the base image's updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kez \
 && useradd --system --uid 10001 --gid 10001 --home /var/lib/kez-chat --create-home kez
COPY --from=server /src/target/release/kez-chat-server /usr/local/bin/kez-chat-server
USER 10001:10001
WORKDIR /var/lib/kez-chat
ENV KEZ_CHAT_BIND=0.0.0.0:6969 \
    KEZ_CHAT_DB=/var/lib/kez-chat/kez-chat.db \
    RUST_LOG=kez_chat_server=info,tower_http=info
EXPOSE 6969
VOLUME ["/var/lib/kez-chat"]
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6969 && printf 'GET /v1/healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '\"ok\"' <&3"]
ENTRYPOINT ["/usr/local/bin/kez-chat-server"]
