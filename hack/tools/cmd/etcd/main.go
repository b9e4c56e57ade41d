// Command etcd runs the etcd server from go.etcd.io/etcd/server/v3, the same
// etcd version that kube-apiserver v1.37.2 is built against. The tests and the
// local cluster use it as the control plane's storage.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
