//go:build tools

// Package tools pins helm's main package; it lives in its own module so that helm's
// dependencies can never move the versions the Kubernetes build needs.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
