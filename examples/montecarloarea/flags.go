package main

import (
	"flag"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// goFlags binds the logging flags and --kubeconfig.
func goFlags(o *zap.Options) *flag.FlagSet {
	fs := flag.NewFlagSet("montecarloarea", flag.ContinueOnError)
	o.BindFlags(fs)
	if f := flag.CommandLine.Lookup("kubeconfig"); f != nil {
		fs.Var(f.Value, f.Name, f.Usage)
	}
	return fs
}
