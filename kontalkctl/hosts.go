package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/kontalk/xmppd/pkg/config"
)

// hosts lists the network's hosts: server key fingerprint, whether
// enabled, whether alive (lease current).
func hosts(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlags("hosts", out)
	var redisURL string
	config.SecretVar(fs, &redisURL, "redis", "", "Redis URL of the network (required)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	st, err := openStore(redisURL)
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	defer st.Close()
	all, err := st.Hosts.All(ctx)
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	slices.Sort(names)
	live, err := st.Hosts.Live(ctx, names)
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	for i, name := range names {
		h := all[name]
		state := "disabled"
		if h.Enabled {
			state = "enabled"
		}
		alive := "down"
		if live[i] {
			alive = "up"
		}
		fp := h.Fingerprint
		if fp == "" {
			fp = "-"
		}
		fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", name, fp, state, alive)
	}
	return nil
}
