package test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kontalk/xmppd/pkg/component"
	"github.com/kontalk/xmppd/pkg/testkit"
)

// Three instances share one name. Each user's stanzas always reach the
// same instance; when one instance leaves, only its users move, and
// nothing sent to the others is lost.
func TestMultiStableShare(t *testing.T) {
	r := startRouter(t)
	const users = 300
	shared := component.Bind{Name: "sm.example", Multi: true}
	insts := []*comp{
		startComp(t, r, "sm-1.example", shared),
		startComp(t, r, "sm-2.example", shared),
		startComp(t, r, "sm-3.example", shared),
	}
	sender := startComp(t, r, "c2s-1.example")

	// owners sends one stanza per user (two resources each, and a
	// differently cased address, which is the same bare JID) and returns
	// the instance each user's stanzas reached.
	round := 0
	owners := func(live []*comp) map[int]int {
		t.Helper()
		round++
		for u := range users {
			for _, addr := range []string{
				fmt.Sprintf("user%d@sm.example/phone", u),
				fmt.Sprintf("USER%d@SM.example/desktop", u),
			} {
				sender.send(t, fmt.Sprintf(`<message from='c2s-1.example' to='%s' id='r%d-u%d'/>`, addr, round, u))
			}
		}
		total := 0
		testkit.Eventually(t, timeout, "all stanzas delivered", func() bool {
			total = 0
			for _, c := range live {
				total += strings.Count(strings.Join(c.snapshot(), ""), fmt.Sprintf("id='r%d-", round))
			}
			return total == 2*users
		})
		owner := map[int]int{}
		for i, c := range live {
			for _, s := range c.snapshot() {
				var u int
				if _, err := fmt.Sscanf(s[strings.Index(s, "id='")+4:], fmt.Sprintf("r%d-u%%d'", round), &u); err != nil {
					continue
				}
				if prev, ok := owner[u]; ok && prev != i {
					t.Fatalf("round %d: user %d reached two instances", round, u)
				}
				owner[u] = i
			}
		}
		return owner
	}

	first := owners(insts)
	shares := make([]int, len(insts))
	for _, i := range first {
		shares[i]++
	}
	for i, n := range shares {
		if n < users/6 {
			t.Errorf("instance %d got %d of %d users: shares %v", i+1, n, users, shares)
		}
	}
	if again := owners(insts); !sameOwners(first, again) {
		t.Fatal("owners changed while the set of instances did not")
	}

	// sm-2 leaves. Its users move; everyone else stays put.
	insts[1].stop()
	sender.expectRoute(t, "sm-2.example:false")
	live := []*comp{insts[0], insts[2]}
	after := owners(live)
	moved := 0
	for u, before := range first {
		now := []int{0, 2}[after[u]]
		switch {
		case before == 1:
			moved++
		case now != before:
			t.Errorf("user %d moved from sm-%d to sm-%d though sm-%d stayed", u, before+1, now+1, before+1)
		}
	}
	if moved != shares[1] {
		t.Errorf("%d users moved, sm-2 had %d", moved, shares[1])
	}
}

func sameOwners(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
