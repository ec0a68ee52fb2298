package load

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

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
		return 0, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("load: pid %d %s %q: %w", pid, field, rest, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("load: pid %d has no %s", pid, field)
}

// Descendants returns pid and every process below it, so that
// launchers can report a server started through a wrapper (ejabberdctl,
// devrun). It reads every process's parent from /proc/PID/stat, as the
// children lists need a kernel option.
func Descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := make(map[int][]int)
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := parent(p); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// statFields returns the fields of /proc/PID/stat after the command name,
// which is in parentheses and may hold spaces: field 0 is the state.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return nil, fmt.Errorf("load: short /proc/%d/stat", pid)
	}
	return fields, nil
}

func parent(pid int) (int, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(fields[1])
}

// CPUSeconds sums the user and system time of pids (/proc/PID/stat).
func CPUSeconds(pids []int) (float64, error) {
	var ticks int64
	for _, pid := range pids {
		fields, err := statFields(pid)
		if err != nil {
			return 0, err
		}
		for _, f := range fields[11:13] { // utime, stime
			t, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("load: /proc/%d/stat: %w", pid, err)
			}
			ticks += t
		}
	}
	return float64(ticks) / 100, nil // USER_HZ is 100 on Linux
}
