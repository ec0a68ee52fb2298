// Command echobot is an example third-party component for a Kontalk
// network, written with gosrc.io/xmpp as any component developer would:
// it connects to the router over XEP-0114 and answers every chat message
// with the same text, reversed.
//
// Copy this directory to start a component of your own; see README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"gosrc.io/xmpp"
	"gosrc.io/xmpp/stanza"
)

func main() {
	router := flag.String("router", envOr("KONTALK_ROUTER", "127.0.0.1:5347"), "router address")
	name := flag.String("name", envOr("KONTALK_NAME", "echo.kontalk.localhost"), "component name, as declared to the router with -component NAME=SECRET")
	secret := flag.String("secret", os.Getenv("KONTALK_SECRET"), "component secret")
	flag.Parse()
	if *secret == "" {
		log.Fatal("echobot: a secret is required (-secret or KONTALK_SECRET)")
	}

	r := xmpp.NewRouter()
	r.HandleFunc("message", func(s xmpp.Sender, p stanza.Packet) { reply(s, *name, p) })
	r.NewRoute().IQNamespaces(stanza.NSDiscoInfo).HandlerFunc(func(s xmpp.Sender, p stanza.Packet) { discoInfo(s, p) })

	c, err := xmpp.NewComponent(xmpp.ComponentOptions{
		TransportConfiguration: xmpp.TransportConfiguration{Address: *router},
		Domain:                 *name,
		Secret:                 *secret,
		Name:                   "Echo bot",
		Category:               "automation",
		Type:                   "bot",
	}, r, func(err error) { log.Printf("echobot: %v", err) })
	if err != nil {
		log.Fatal(err)
	}
	// gosrc.io/xmpp v0.5.1's StreamManager cannot reconnect components,
	// so connect once; run it under a supervisor that restarts it.
	if err := c.Connect(); err != nil {
		log.Fatalf("echobot: connect to %s: %v", *router, err)
	}
	fmt.Println("echobot: connected as", *name)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	if err := c.Disconnect(); err != nil && !errors.Is(err, os.ErrClosed) {
		log.Printf("echobot: disconnect: %v", err)
	}
}

// reply answers a chat message with its body reversed.
func reply(s xmpp.Sender, name string, p stanza.Packet) {
	msg, ok := p.(stanza.Message)
	if !ok || msg.Body == "" || msg.Type == stanza.MessageTypeError {
		return
	}
	out := stanza.Message{
		Attrs: stanza.Attrs{From: msg.To, To: msg.From, Id: msg.Id, Type: stanza.MessageTypeChat},
		Body:  reverse(msg.Body),
	}
	if out.From == "" {
		out.From = name
	}
	if err := s.Send(out); err != nil {
		log.Printf("echobot: reply: %v", err)
	}
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// discoInfo tells clients what the bot is.
func discoInfo(s xmpp.Sender, p stanza.Packet) {
	iq, ok := p.(*stanza.IQ)
	if !ok || iq.Type != stanza.IQTypeGet {
		return
	}
	res, err := stanza.NewIQ(stanza.Attrs{Type: stanza.IQTypeResult, From: iq.To, To: iq.From, Id: iq.Id})
	if err != nil {
		return
	}
	info := res.DiscoInfo()
	info.AddIdentity("Echo bot", "automation", "bot")
	info.AddFeatures(stanza.NSDiscoInfo)
	if err := s.Send(res); err != nil {
		log.Printf("echobot: disco: %v", err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
