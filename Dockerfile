# The chargewatch image: one image, one entrypoint; the subcommand picks the role
# (`worker`, `sink`, `simulate`, `topics create`, ...). See docker-compose.yml.

# The compiled fast path (native/, Rust) is built in a stage of its own, so the
# image carries neither Rust nor a compiler. abi3: the wheel serves CPython 3.11+.
FROM rust:1-slim-bookworm AS native
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/maturin \
    && /opt/maturin/bin/pip install --no-cache-dir "maturin>=1.7,<2"
WORKDIR /native
COPY native/ ./
RUN /opt/maturin/bin/maturin build --release --locked --compatibility linux --out /wheels

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that this layer is rebuilt
# only when they change. Every one ships manylinux wheels for CPython 3.11:
# no compiler needed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt

# Then the project itself: only what `pip install .` needs (pyproject lists the
# packages explicitly); tests, deploy/ and bench/ stay out of the image.
COPY README.md ./
COPY chargewatch ./chargewatch
COPY schemas ./schemas
COPY streams ./streams
COPY sinks ./sinks
COPY --from=native /wheels /wheels
RUN pip install --no-deps . /wheels/*.whl \
    && cd / && rm -rf /src /wheels

# Unprivileged runtime user. Its home is the working directory, so the relative
# defaults (var/faust, var/clickhouse) land in /var/lib/chargewatch/var, which
# compose mounts as a named volume (Docker copies this ownership into it).
RUN useradd --system --uid 10001 --user-group --create-home \
        --home-dir /var/lib/chargewatch --shell /usr/sbin/nologin chargewatch \
    && install -d -o chargewatch -g chargewatch /var/lib/chargewatch/var
USER chargewatch
WORKDIR /var/lib/chargewatch

# In a container /metrics must listen beyond loopback to be scraped.
ENV CHARGEWATCH_VAR_DIR=/var/lib/chargewatch/var \
    CHARGEWATCH_METRICS_HOST=0.0.0.0
# worker and sink /metrics (CHARGEWATCH_WORKER_METRICS_PORT, CHARGEWATCH_SINK_METRICS_PORT)
EXPOSE 9108 9109

ENTRYPOINT ["chargewatch"]
CMD ["--help"]
