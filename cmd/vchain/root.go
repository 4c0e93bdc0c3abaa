package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

type globalFlags struct {
	logLevel  string
	logFormat string
}

var global globalFlags

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "vchain",
		Short: "Virtual chains: replicated state machines over an ordered, authenticated input log",
		Long: `vchain turns an ordered input log (Bitcoin, a built-in DPoR chain, or a signed host log)
into application state and Virtualchain-compatible consensus hashes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&global.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&global.logFormat, "log-format", "text", "log format on stderr: text or json")
	root.AddCommand(newDemoCmd(), newReplayCmd(), newConsensusCmd(), newBenchCmd(), newVectorsCmd(),
		newDevCmd(), newContractCmd(), newAuditCmd(), newSyncCmd(false), newSyncCmd(true), newNamesCmd(), newLocalnetCmd(), newTxCmd(), newKeyCmd(), newAccountCmd(), newPrivateCmd(), newBlobCmd(), newWatchCmd(), newSnapshotCmd())
	root.AddCommand(newVersionCmd())
	root.AddCommand(newChainCmd())
	root.AddCommand(newABCICmd(), newCometCmd())
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command below root that only
// groups others fail on an unknown subcommand ("vchain contract foo"):
// cobra prints the group's help and exits 0 instead. Without arguments a
// group still prints its help.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
	if !cmd.HasParent() || !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return fmt.Errorf("%s (see '%s --help')", msg, cmd.CommandPath())
	}
}

// logger builds the process logger from the global flags.
func logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(global.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", global.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(global.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", global.logFormat)
	}
}
