package server

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/kontalk/xmppd/pkg/keyring"
	"github.com/kontalk/xmppd/pkg/xmppclient/clienttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testNetwork = "kontalk.test"
	testHost    = "node1.kontalk.test"
)

// testKey is a server key shared by the tests of this package.
var testKey = func() *keyring.ServerKey {
	k, err := keyring.GenerateServerKey("Test", "server@"+testNetwork, keyring.ServerKeyOptions{RSABits: 2048, Created: time.Now().Add(-time.Hour)})
	if err != nil {
		panic(err)
	}
	return k
}()

// newTestServer returns a server that was never started: its methods that
// do no network I/O can be tested directly.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	cert, key, _, err := clienttest.WriteServerCertificate(t.TempDir(), "server", testNetwork)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := keyring.NewTrust(testKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Name: "c2s-1." + testHost, Host: testHost, Network: testNetwork, Router: "127.0.0.1:1",
		Secret: "x", CertFile: cert, KeyFile: key, Trust: trust}, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pipeConn returns a connection of s over an in-memory pipe and the
// client's end.
func pipeConn(t *testing.T, s *Server) (*conn, net.Conn) {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() {
		server.Close()
		client.Close()
		s.wg.Wait()
	})
	return newConn(s, server, 1, netip.MustParseAddrPort("127.0.0.1:1234"), false), client
}
