package testenv

const swarmEnvStack = `services:
  api:
    image: rekey-demo/redis:dev
    entrypoint: ["sh", "-c", "exec sleep 100000"]
    stop_grace_period: 1s
    env_file: [./app.env]
    environment:
      MODE: prod
    healthcheck:
      test: ["CMD-SHELL", "test $${#SESSION_TOKEN} -ge 32"]
      interval: 1s
      timeout: 2s
      retries: 2
    deploy:
      update_config:
        order: start-first
        failure_action: pause
        monitor: 3s
  worker:
    image: rekey-demo/redis:dev
    entrypoint: ["sh", "-c", "exec sleep 100000"]
    stop_grace_period: 1s
    depends_on: [api]
    env_file: [./app.env]
    healthcheck:
      test: ["CMD-SHELL", "test $${#SESSION_TOKEN} -ge 32"]
      interval: 1s
      timeout: 2s
      retries: 2
    deploy:
      update_config:
        order: start-first
        failure_action: pause
        monitor: 3s
`

// SwarmEnvStack is the stack file of a two-service stack (image rekey-demo/redis:dev, for
// its shell) whose services api and worker read SESSION_TOKEN from the env_file ./app.env (with other
// variables: the file should also assign LOG_LEVEL; api sets MODE=prod in environment:). Both update
// start-first and their healthcheck refuses a token shorter than 32 bytes.
func SwarmEnvStack() string { return swarmEnvStack }
