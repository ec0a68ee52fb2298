// Package testkit is the harness for system tests that run the real
// processes: it builds their binaries once per test binary, starts them and
// a private redis-server on free loopback ports, captures their output into
// the test log, waits for readiness by polling (never by sleeping), kills
// them with SIGKILL or stops them with SIGTERM, and speaks raw protocol
// bytes to them with send/expect.
//
// Every process started through testkit is stopped when the test that
// started it ends. Processes run in their own process group, which is killed
// as a whole, so nothing they spawn outlives them; on Linux they are also
// killed if the test binary itself dies.
//
// A test package builds its binaries in TestMain:
//
//	var routerBin string
//
//	func TestMain(m *testing.M) {
//		dir, err := os.MkdirTemp("", "router-test")
//		if err != nil {
//			log.Fatal(err)
//		}
//		routerBin, err = testkit.Build(context.Background(), ".", dir, "router")
//		if err != nil {
//			os.RemoveAll(dir)
//			log.Fatal(err)
//		}
//		code := m.Run()
//		os.RemoveAll(dir)
//		os.Exit(code)
//	}
package testkit
