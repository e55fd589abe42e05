# SmrtChat — make targets
#   make deps     install missing Debian packages (apt-get update only when something is missing)
#   make build    debug build of every target
#   make release  release build
#   make test     install, build and run every test suite
#   make clean    remove build products
#
# Everything installs what it needs itself, so a fresh Debian machine needs only `make test`.

SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

APT_PACKAGES := libsqlite3-dev pkg-config libnanomsg-dev protobuf-compiler
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release test clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build --build-tests

release: deps
	$(SWIFT) build -c release

test: build
	$(SWIFT) test --skip-build

clean:
	rm -rf .build
