//go:build tools

// Package tools pins CoreDNS, the cluster DNS of the real-node mode that
// hack/testbin.sh builds. No Go code of ours is compiled.
package tools

import _ "github.com/coredns/coredns"
