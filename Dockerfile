# Jules: one binary plus its policy bundles.
# Build: docker build -t jules .
# Run:   docker run -p 8000:8000 -e DATABASE_URL=… -e REDIS_URL=… jules
# (not with a .env copied from .env.example: its HOST=127.0.0.1 and POLICY_DIR=policies
# are for running from a checkout and would override this image's settings)

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
RUN scripts/build-policies \
    && cargo build --release -p jules \
    && mkdir -p /out/policies \
    && cp target/release/jules /out/ \
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
CMD ["jules", "serve"]
