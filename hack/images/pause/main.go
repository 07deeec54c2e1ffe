// Command pause is PID 1 of every pod sandbox on the dev node: it holds the pod's
// namespaces, reaps orphaned children and exits on SIGTERM or SIGINT. The dev node has
// no registry to pull registry.k8s.io/pause from; hack/images.sh builds this instead.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
