// Command probe is the health check of the container images, which have
// no shell or curl: it fetches a URL and exits 0 on a 2xx answer, 1
// otherwise, printing the reason.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probe URL")
		os.Exit(2)
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(os.Stderr, "probe: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
		os.Exit(1)
	}
}
