# Jules: one binary plus its policy bundles, as a small non-root image.
# Build: docker build -t jules .      Run the whole stack: docker-compose up -d
# Run alone: docker run -p 8000:8000 -e DATABASE_URL=… -e REDIS_URL=… jules
# The image sets HOST, PORT, POLICY_DIR and DATA_DIR for itself; a .env copied from
# .env.example sets them for a checkout, so pass it through docker-compose.yml (which
# puts the image's values back) rather than with `docker run --env-file`.

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
# The registry and target folders are caches kept between builds (BuildKit); the
# binary (without debug info; symbols stay for backtraces) and the bundles are copied
# out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/build-policies \
    && cargo build --release --locked -p jules \
    && mkdir -p /out/policies \
    && objcopy --strip-debug target/release/jules /out/jules \
    && for b in policies/*/; do \
         mkdir -p "/out/$b" && cp "$b"bundle.toml "$b"config.json "$b"component.wasm "/out/$b"; \
       done

FROM debian:bookworm-slim
# TLS to the carriers and model providers verifies against the system's CA roots.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /var/lib/jules --create-home jules
COPY --from=build /out/jules /usr/local/bin/jules
COPY --from=build /out/policies /usr/share/jules/policies
USER jules
WORKDIR /var/lib/jules
ENV HOST=0.0.0.0 PORT=8000 POLICY_DIR=/usr/share/jules/policies DATA_DIR=/var/lib/jules
EXPOSE 8000
VOLUME /var/lib/jules
# Ready: serving and not stopping (bash's /dev/tcp; the image carries no HTTP client).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# SIGTERM (docker stop) drains: turns get SHUTDOWN_TURNS_MS (15 s), sends 10 s more.
STOPSIGNAL SIGTERM
CMD ["jules", "serve"]
