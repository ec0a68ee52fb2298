// Package procstat reads what Linux's /proc says about processes: their
// resident memory, CPU time, children and liveness, and which process
// listens on a port. The load programs and system tests use it to
// measure and stop the servers they start.
package procstat

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// RSS sums the resident memory (VmRSS in /proc/PID/status) of pids, in
// bytes.
func RSS(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		kb, err := statusField(pid, "VmRSS:")
		if err != nil {
			return 0, err
		}
		total += kb * 1024
	}
	return total, nil
}

func statusField(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procstat: pid %d %s %q: %w", pid, field, rest, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("procstat: pid %d has no %s", pid, field)
}

// CPU sums the user and system time of pids.
func CPU(pids ...int) (time.Duration, error) {
	var ticks int64
	for _, pid := range pids {
		fields, err := statFields(pid)
		if err != nil {
			return 0, err
		}
		for _, f := range fields[11:13] { // utime, stime
			t, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procstat: /proc/%d/stat: %w", pid, err)
			}
			ticks += t
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// Descendants returns pid and every process below it, so that a
// server started through a wrapper (ejabberdctl, devrun) can be measured
// and stopped whole. It reads every process's parent from
// /proc/PID/stat, as the children lists need a kernel option.
func Descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := make(map[int][]int)
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if fields, err := statFields(p); err == nil {
			if ppid, err := strconv.Atoi(fields[1]); err == nil {
				children[ppid] = append(children[ppid], p)
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// Alive reports whether pid runs: it exists and is not a zombie.
func Alive(pid int) bool {
	fields, err := statFields(pid)
	return err == nil && fields[0] != "Z"
}

// statFields returns the fields of /proc/PID/stat after the command name,
// which is in parentheses and may hold spaces: field 0 is the state,
// 1 the parent, 11 and 12 the user and system times.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return nil, fmt.Errorf("procstat: short /proc/%d/stat", pid)
	}
	return fields, nil
}

// ListenerPID returns the process listening on the TCP port, as ss(8)
// reports it; 0 when nothing listens there.
func ListenerPID(port int) (int, error) {
	out, err := exec.Command("ss", "-Hltnp", fmt.Sprintf("sport = :%d", port)).Output()
	if err != nil {
		return 0, fmt.Errorf("procstat: ss: %w", err)
	}
	s := string(out)
	i := strings.Index(s, "pid=")
	if i < 0 {
		return 0, nil
	}
	s = s[i+4:]
	end := strings.IndexAny(s, ",)")
	if end < 0 {
		return 0, fmt.Errorf("procstat: ss output %q", out)
	}
	return strconv.Atoi(s[:end])
}
