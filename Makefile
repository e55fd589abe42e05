# SmrtChat — make targets
#   make deps     install missing Debian packages (apt-get update only when something is missing)
#   make build    debug build of every target
#   make release  release build
#   make test     install, build and run every test suite
#   make proto    regenerate the committed protobuf code from proto/
#   make proto-check  fail when the committed generated code is out of date with proto/
#   make clean    remove build products
#
# Everything installs what it needs itself, so a fresh Debian machine needs only `make test`.

SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

APT_PACKAGES := libsqlite3-dev pkg-config libnanomsg-dev protobuf-compiler
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

PROTOS := $(wildcard proto/smrt/chat/v1/*.proto)
PROTOC_GEN_SWIFT := .build/protoc-gen-swift/release/protoc-gen-swift
SWIFT_API_DIR := Sources/ChatAPI/Generated

.PHONY: deps build release test clean proto proto-check

# protoc-gen-swift from the very swift-protobuf version the package resolves (never its build plugin).
$(PROTOC_GEN_SWIFT):
	$(SWIFT) package resolve
	$(SWIFT) build -c release --package-path .build/checkouts/swift-protobuf --product protoc-gen-swift \
	  --scratch-path .build/protoc-gen-swift
	touch $@

define gen_swift
	rm -rf $(1) && mkdir -p $(1)
	protoc -I proto --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) \
	  --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath --swift_out=$(1) $(PROTOS)
endef

proto: deps $(PROTOC_GEN_SWIFT)
	$(call gen_swift,$(SWIFT_API_DIR))

proto-check: deps $(PROTOC_GEN_SWIFT)
	$(call gen_swift,.build/proto-check/swift)
	diff -r .build/proto-check/swift $(SWIFT_API_DIR) || \
	  { echo "generated code is out of date with proto/: run 'make proto' and commit"; exit 1; }

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

test: build proto-check
	$(SWIFT) test --skip-build

clean:
	rm -rf .build
