#!/bin/bash
set -e;
# creates POSTGRES_NON_ROOT_USER with POSTGRES_NON_ROOT_PASSWORD (see n8n-hosting)
