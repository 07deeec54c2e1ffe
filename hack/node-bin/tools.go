//go:build tools

// Package tools pins the node's container runtime that hack/testbin.sh builds for the
// real-node mode: containerd v2 with its runc shim and ctr. No Go code of ours is
// compiled: the binaries are upstream's own mains.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
