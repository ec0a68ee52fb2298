// Package devnet reads what `make run` (tools/devrun) leaves in its var
// directory: run.env, the server key that certifies users' keys and the
// CA of the client port's certificate. Load programs and tests use it to
// connect to a development network as Kontalk clients do.
package devnet

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kontalk/xmppd/pkg/keyring"
)

// Files of the var directory, as tools/devrun writes them.
const (
	// EnvFile holds KEY=value lines describing the running network.
	EnvFile = "run.env"
	// ServerKeyFile is the armored private server key.
	ServerKeyFile = "server-key.asc"
)

// Network is a development network as its var directory describes it.
type Network struct {
	// Env is run.env: KONTALK_NETWORK, KONTALK_C2S_PORT, KONTALK_CA_CERT,
	// KONTALK_VERIFY_CODE, ... (docs/operations.md, "make run").
	Env map[string]string
	// ServerKey certifies users' keys, as sm does at registration.
	ServerKey *keyring.ServerKey
	// Roots trust the certificate of the client port.
	Roots *x509.CertPool
}

// Open reads the var directory of a running network.
func Open(varDir string) (*Network, error) {
	env, err := ReadEnv(filepath.Join(varDir, EnvFile))
	if err != nil {
		return nil, err
	}
	armored, err := os.ReadFile(filepath.Join(varDir, ServerKeyFile))
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	key, err := keyring.LoadServerKey(armored)
	if err != nil {
		return nil, fmt.Errorf("devnet: server key: %w", err)
	}
	ca, err := os.ReadFile(env["KONTALK_CA_CERT"])
	if err != nil {
		return nil, fmt.Errorf("devnet: CA certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, errors.New("devnet: no certificate in " + env["KONTALK_CA_CERT"])
	}
	return &Network{Env: env, ServerKey: key, Roots: roots}, nil
}

// Domain is the network domain clients open their streams to.
func (n *Network) Domain() string { return n.Env["KONTALK_NETWORK"] }

// C2SAddr is the client port (STARTTLS) on loopback.
func (n *Network) C2SAddr() string { return "127.0.0.1:" + n.Env["KONTALK_C2S_PORT"] }

// ReadEnv reads a run.env file.
func ReadEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	defer f.Close()
	env := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), "="); ok {
			env[name] = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", path, err)
	}
	return env, nil
}
