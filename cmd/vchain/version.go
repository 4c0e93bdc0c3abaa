package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print vchain's version, the source revision it was built from and the Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bi, _ := debug.ReadBuildInfo()
			printVersion(cmd.OutOrStdout(), bi)
			return nil
		},
	}
}

// printVersion writes what the build info says: the module version
// ("(devel)" for a build from a checkout), the VCS revision and time with
// "+dirty" when the tree had changes, and the Go version and platform.
func printVersion(w io.Writer, bi *debug.BuildInfo) {
	version, path := "(unknown)", "vchain"
	if bi != nil {
		path, version = bi.Main.Path, bi.Main.Version
		if version == "" {
			version = "(devel)"
		}
	}
	fmt.Fprintf(w, "vchain %s\n", version)
	if bi != nil {
		fmt.Fprintf(w, "  module   %s\n", path)
		var rev, at, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			fmt.Fprintf(w, "  revision %s%s", rev, dirty)
			if at != "" {
				fmt.Fprintf(w, " (%s)", at)
			}
			fmt.Fprintln(w)
		} else {
			fmt.Fprintln(w, "  revision unknown (built without version control information)")
		}
	}
	goVersion := runtime.Version()
	if bi != nil && bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(w, "  go       %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
}
