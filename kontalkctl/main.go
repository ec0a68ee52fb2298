// Command kontalkctl is the operator's tool for a Kontalk network: the
// network's server key (generate, show, rotate), users (create one with a
// certified key and a bridge certificate, show, delete) and hosts.
//
//	kontalkctl serverkey generate -out server-key.asc [-public server-key.pub.asc] [-name N] [-email E] [-bits 3072]
//	kontalkctl serverkey show server-key.asc
//	kontalkctl serverkey rotate -in server-key.asc -out new.asc [-public new.pub.asc]
//	kontalkctl user create -redis URL -network N -host H -server-key FILE -phone +E164 -out DIR [-name NAME] [-stdsan]
//	kontalkctl user show -redis URL (-phone +E164 | -user LOCALPART)
//	kontalkctl user delete -router ADDR -host H (-phone +E164 | -user LOCALPART)   # KONTALK_SECRET
//	kontalkctl hosts -redis URL
//
// Every flag can also be set with KONTALK_<FLAG> (KONTALK_REDIS, ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kontalkctl: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage: kontalkctl COMMAND [flags]

commands:
  serverkey generate   make a new server key (private, armored)
  serverkey show       list the keys of a key file with their fingerprints
  serverkey rotate     make a new key and put it first, keeping the old ones trusted
  user create          make a user with a certified key and write its bridge certificate
  user show            show a user's account
  user delete          delete a user through the network (sessions ended, contacts told)
  hosts                list the network's hosts, their key fingerprints and liveness

"kontalkctl COMMAND -h" lists a command's flags.`

// run runs the command in args.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command\n%s", usage)
	}
	cmd, rest := args[0], args[1:]
	if cmd == "serverkey" || cmd == "user" {
		if len(rest) == 0 {
			return fmt.Errorf("%s needs a subcommand\n%s", cmd, usage)
		}
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	switch cmd {
	case "serverkey generate":
		return serverKeyGenerate(rest, getenv, out)
	case "serverkey show":
		return serverKeyShow(rest, getenv, out)
	case "serverkey rotate":
		return serverKeyRotate(rest, getenv, out)
	case "user create":
		return userCreate(ctx, rest, getenv, out)
	case "user show":
		return userShow(ctx, rest, getenv, out)
	case "user delete":
		return userDelete(ctx, rest, getenv, out)
	case "hosts":
		return hosts(ctx, rest, getenv, out)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}
