package main

import (
	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/dockerio"
	"github.com/rekeyhq/rekey/swarmio"
)

// swarmExecCmd is what a relay job runs on a credential server's node (swarmio/relay.go): exec a
// driver's command in the server's container through that node's engine, stdin from a mounted secret
// object, and write the result sealed to the recipient rekey gave. Hidden: rekey starts it, not people.
func swarmExecCmd(e env) *cobra.Command {
	var ctr, recipient, stdin string
	c := &cobra.Command{
		Use:    swarmio.RelayCommand + " --container ID --recipient AGE [--stdin FILE] -- COMMAND...",
		Short:  "Run a command in a local container for rekey on a swarm manager (relay job)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			eng, err := dockerio.New(c.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			return swarmio.RelayExec(c.Context(), eng, ctr, args, stdin, recipient, e.stdout)
		},
	}
	c.Flags().StringVar(&ctr, "container", "", "the container to run the command in")
	c.Flags().StringVar(&recipient, "recipient", "", "the age recipient the result is sealed to")
	c.Flags().StringVar(&stdin, "stdin", "", "a file whose content is the command's stdin")
	_ = c.MarkFlagRequired("container")
	_ = c.MarkFlagRequired("recipient")
	return c
}
