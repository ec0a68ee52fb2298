// Command hello is a main package for testkit's Build test: it greets the
// name in KONTALK_GREETING and exits with the status given as its argument.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	fmt.Println("hello", os.Getenv("KONTALK_GREETING"))
	if len(os.Args) > 1 {
		code, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(code)
	}
}
