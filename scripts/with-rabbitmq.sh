#!/usr/bin/env bash
# Runs a command with TEST_RABBITMQ_URL pointing at a RabbitMQ broker the
# notification tests (internal/notify, internal/app) may use. Order: an
# explicit TEST_RABBITMQ_URL; a broker already answering on 127.0.0.1:5672;
# a local rabbitmq-server we can start (rabbitmq-server -detached). Tests
# share the broker: each uses exchanges and queues of its own and deletes
# them. When no broker can be had, the command still runs and the tests
# that need one fail saying so (a skipped test would hide failures).
set -euo pipefail
default_url="amqp://guest:guest@127.0.0.1:5672/"

answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if [ -z "${TEST_RABBITMQ_URL:-}" ]; then
  if answers; then
    export TEST_RABBITMQ_URL="$default_url"
  elif command -v rabbitmq-server >/dev/null 2>&1; then
    echo "with-rabbitmq: starting RabbitMQ (rabbitmq-server -detached)" >&2
    rabbitmq-server -detached >&2 || true
    # The AMQP listener opens once the broker has booted.
    for _ in $(seq 1 90); do
      answers && break
      sleep 1
    done
    if answers; then
      export TEST_RABBITMQ_URL="$default_url"
    else
      echo "with-rabbitmq: rabbitmq-server did not start listening on 127.0.0.1:5672 within 90 s;" >&2
      echo "with-rabbitmq: see its log (/var/log/rabbitmq/) or start it yourself (may need root: sudo rabbitmq-server -detached)." >&2
    fi
  fi
fi
if [ -z "${TEST_RABBITMQ_URL:-}" ]; then
  echo "with-rabbitmq: no RabbitMQ on 127.0.0.1:5672 and none could be started: the RabbitMQ tests will fail." >&2
  echo "with-rabbitmq: install it (Debian: apt-get install rabbitmq-server), run one (docker run -d -p 5672:5672 rabbitmq:3)," >&2
  echo "with-rabbitmq: or set TEST_RABBITMQ_URL=amqp://user:password@host:5672/vhost." >&2
fi
exec "$@"
