package main

import "github.com/spf13/cobra"

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the names app on a generated chain with a fork in it",
		RunE:  func(cmd *cobra.Command, args []string) error { return nil },
	}
}
