package scaleout

import (
	"encoding/json"
	"slices"

	"github.com/segmentio/kafka-go"
)

// balancer assigns tasks, not partitions: partition N of every topic goes
// to the member that runs task N, so that the events of one key, in
// whichever topic, meet in one engine. Members say in their user data
// which tasks they ran, and keep them where the balance allows. Every task
// restarts on a rebalance (the protocol is eager), from the checkpoint it
// has just written, so stickiness does not save the restore; it keeps the
// assignment stable, so that a task's logs and metrics stay with one
// process.
type balancer struct{ g *Group }

// protocol is the name of the assignment the processes agree on; a
// member that does not offer it cannot join the group.
const protocol = "cep-tasks-v1"

func (balancer) ProtocolName() string { return protocol }

// userData is what a member tells the group's leader when it joins.
type userData struct {
	Tasks []int `json:"tasks"`
}

func (b balancer) UserData() ([]byte, error) {
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	return json.Marshal(userData{Tasks: b.g.owned})
}

func (balancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	ids := make([]string, len(members))
	had := map[string][]int{}
	for i, m := range members {
		ids[i] = m.ID
		var u userData
		if json.Unmarshal(m.UserData, &u) == nil {
			had[m.ID] = u.Tasks
		}
	}
	var tasks []int
	for _, p := range partitions {
		if !slices.Contains(tasks, p.ID) {
			tasks = append(tasks, p.ID)
		}
	}
	owner := assign(ids, tasks, had)
	out := kafka.GroupMemberAssignments{}
	for _, id := range ids {
		out[id] = map[string][]int{}
	}
	for _, p := range partitions {
		m := owner[p.ID]
		out[m][p.Topic] = append(out[m][p.Topic], p.ID)
	}
	for _, byTopic := range out {
		for _, ps := range byTopic {
			slices.Sort(ps)
		}
	}
	return out
}

// assign gives every task to one member: as evenly as can be (counts
// differ by at most one), keeping a task with the member that had it when
// that member has room. It is deterministic: the same members, tasks and
// history give the same assignment.
func assign(members []string, tasks []int, had map[string][]int) map[int]string {
	members = slices.Clone(members)
	slices.Sort(members)
	tasks = slices.Clone(tasks)
	slices.Sort(tasks)
	owner := map[int]string{}
	if len(members) == 0 {
		return owner
	}
	quota := make(map[string]int, len(members))
	base, extra := len(tasks)/len(members), len(tasks)%len(members)
	// Members that had the most tasks get the larger quotas, so that
	// fewer tasks move.
	byHad := slices.Clone(members)
	slices.SortStableFunc(byHad, func(a, b string) int { return len(had[b]) - len(had[a]) })
	for i, m := range byHad {
		quota[m] = base
		if i < extra {
			quota[m]++
		}
	}
	count := map[string]int{}
	for _, m := range members {
		for _, t := range had[m] {
			if _, taken := owner[t]; taken || count[m] >= quota[m] || !slices.Contains(tasks, t) {
				continue
			}
			owner[t] = m
			count[m]++
		}
	}
	next := 0
	for _, t := range tasks {
		if _, ok := owner[t]; ok {
			continue
		}
		for count[members[next]] >= quota[members[next]] {
			next = (next + 1) % len(members)
		}
		owner[t] = members[next]
		count[members[next]]++
	}
	return owner
}
