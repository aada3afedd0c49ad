package scaleout

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestAssign(t *testing.T) {
	tests := []struct {
		name    string
		members []string
		tasks   []int
		had     map[string][]int
		want    map[string][]int
	}{
		{"one member takes every task", []string{"a"}, []int{0, 1, 2}, nil,
			map[string][]int{"a": {0, 1, 2}}},
		{"even split in member order", []string{"b", "a"}, []int{0, 1, 2, 3}, nil,
			map[string][]int{"a": {0, 1}, "b": {2, 3}}},
		{"an odd task goes to a member that had more", []string{"a", "b"}, []int{0, 1, 2}, map[string][]int{"b": {0, 1, 2}},
			map[string][]int{"a": {2}, "b": {0, 1}}},
		{"a joining member takes only what balance needs", []string{"a", "b", "c"}, []int{0, 1, 2, 3, 4, 5},
			map[string][]int{"a": {0, 1, 2}, "b": {3, 4, 5}},
			map[string][]int{"a": {0, 1}, "b": {3, 4}, "c": {2, 5}}},
		{"a leaving member's tasks spread over the rest", []string{"a", "c"}, []int{0, 1, 2, 3, 4, 5},
			map[string][]int{"a": {0, 1}, "b": {3, 4}, "c": {2, 5}},
			map[string][]int{"a": {0, 1, 3}, "c": {2, 4, 5}}},
		{"more members than tasks", []string{"a", "b", "c"}, []int{0}, nil,
			map[string][]int{"a": {0}}},
		{"a task that no longer exists is not kept", []string{"a"}, []int{0}, map[string][]int{"a": {0, 7}},
			map[string][]int{"a": {0}}},
		{"two members claiming one task: the first in order keeps it", []string{"a", "b"}, []int{0, 1},
			map[string][]int{"a": {0}, "b": {0}},
			map[string][]int{"a": {0}, "b": {1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := assign(tt.members, tt.tasks, tt.had)
			got := map[string][]int{}
			for task, m := range owner {
				got[m] = append(got[m], task)
			}
			for _, ts := range got {
				slices.Sort(ts)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("assign = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAssignGroupsCoPartitions: partition N of every topic goes to the
// member of task N, and counts differ by at most one.
func TestAssignGroupsCoPartitions(t *testing.T) {
	var parts []kafka.Partition
	for _, topic := range []string{"payments", "auth", "account"} {
		for id := range 7 {
			parts = append(parts, kafka.Partition{Topic: topic, ID: id})
		}
	}
	ud, _ := json.Marshal(userData{Tasks: []int{6, 5}})
	members := []kafka.GroupMember{{ID: "m3"}, {ID: "m1", UserData: ud}, {ID: "m2", UserData: []byte("not json")}}
	out := balancer{}.AssignGroups(members, parts)
	counts := map[string]int{}
	for m, byTopic := range out {
		for _, topic := range []string{"auth", "account"} {
			if !slices.Equal(byTopic[topic], byTopic["payments"]) {
				t.Errorf("member %s has %v of %s but %v of payments", m, byTopic[topic], topic, byTopic["payments"])
			}
		}
		counts[m] = len(byTopic["payments"])
	}
	for _, m := range slices.Sorted(maps.Keys(counts)) {
		if n := counts[m]; n < 2 || n > 3 {
			t.Errorf("member %s has %d tasks, want 2 or 3 of 7 over 3 members", m, n)
		}
	}
	if !slices.Contains(out["m1"]["payments"], 5) || !slices.Contains(out["m1"]["payments"], 6) {
		t.Errorf("m1 ran tasks 5 and 6 and keeps them: got %v", out["m1"]["payments"])
	}
}

func TestTasksOfRefusesUnequalPartitions(t *testing.T) {
	as := map[string][]kafka.PartitionAssignment{
		"a": {{ID: 1}, {ID: 0}},
		"b": {{ID: 0}},
	}
	if _, err := tasksOf(as, []string{"a", "b"}); err == nil {
		t.Fatal("tasksOf accepted topics with different partitions")
	}
	as["b"] = append(as["b"], kafka.PartitionAssignment{ID: 1})
	ids, err := tasksOf(as, []string{"a", "b"})
	if err != nil || !slices.Equal(ids, []int{0, 1}) {
		t.Fatalf("tasksOf = %v, %v", ids, err)
	}
}
