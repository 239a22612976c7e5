// Command pause is the sandbox process of every pod on the project's test cluster
// (scripts/cluster.sh). It holds the pod's namespaces open, reaps the zombies that PID 1 of a
// shared PID namespace inherits, and exits on SIGINT or SIGTERM, as upstream's pause does; no
// registry is reachable here, so the image is built from this file instead of pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every child that has exited, without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
