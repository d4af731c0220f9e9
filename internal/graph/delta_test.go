package graph

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

func TestUsersDeltaEnumerationThenChanges(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{}, "User.Read.All")
	gen := sim.Generate(graphsim.GenerateOptions{Users: 1500, ManagersEvery: 10, Seed: 3})
	c := mustClient(t, cfg)
	ctx := context.Background()

	sel := []string{"userPrincipalName", "jobTitle", "accountEnabled"}
	seen := map[string]UserChange{}
	link, err := c.UsersDelta(ctx, UsersDeltaQuery{Select: sel, ExpandManager: true}, func(ch UserChange) error {
		seen[ch.User.ID] = ch
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1,500 users in pages of 999: two requests.
	if u := c.Usage(); len(seen) != 1500 || u.Requests != 2 || u.ResourceUnits != 2 {
		t.Fatalf("enumeration: %d users, usage %+v", len(seen), u)
	}
	withManager := seen[gen.UserIDs[11]]
	if withManager.User.Manager == nil || withManager.User.Manager.ID != gen.UserIDs[1] || !withManager.Props["jobTitle"] ||
		withManager.User.UserPrincipalName == "" || withManager.User.AccountEnabled == nil {
		t.Fatalf("user entry: %+v", withManager)
	}

	retitled, rehomed, orphaned, deleted := gen.UserIDs[20], gen.UserIDs[21], gen.UserIDs[22], gen.UserIDs[23]
	sim.UpdateUser(retitled, func(u *graphsim.User) { u.JobTitle = "Chief" })
	sim.UpdateUser(rehomed, func(u *graphsim.User) { u.ManagerID = gen.UserIDs[5] })
	sim.UpdateUser(orphaned, func(u *graphsim.User) { u.ManagerID = "" })
	sim.DeleteUser(deleted)

	before := c.Usage()
	got := map[string]UserChange{}
	next, err := c.UsersDelta(ctx, UsersDeltaQuery{Link: link}, func(ch UserChange) error {
		got[ch.User.ID] = ch
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if used := c.Usage().Sub(before); used.Requests != 1 || next == "" || next == link {
		t.Errorf("changes round: usage %+v, link changed %v", used, next != link)
	}
	if len(got) != 4 {
		t.Fatalf("%d changes, want 4: %+v", len(got), got)
	}
	if ch := got[retitled]; ch.User.JobTitle != "Chief" || !ch.Props["jobTitle"] || ch.Removed {
		t.Errorf("retitled: %+v", ch)
	}
	if ch := got[rehomed]; !ch.ManagerChanged || ch.User.Manager == nil || ch.User.Manager.ID != gen.UserIDs[5] {
		t.Errorf("new manager: %+v", ch)
	}
	if ch := got[orphaned]; !ch.ManagerChanged || ch.User.Manager != nil {
		t.Errorf("manager removed: %+v", ch)
	}
	if ch := got[deleted]; !ch.Removed {
		t.Errorf("deleted: %+v", ch)
	}

	deltaLatestAndStop(t, c, sim, sel, retitled)
}

// deltaLatestAndStop: $deltatoken=latest costs one request and returns
// later changes only; the callback's error stops a round.
func deltaLatestAndStop(t *testing.T, c *Client, sim *graphsim.Server, sel []string, retitled string) {
	t.Helper()
	ctx := context.Background()
	before := c.Usage()
	latest, err := c.UsersDelta(ctx, UsersDeltaQuery{Link: DeltaLatest, Select: sel, ExpandManager: true}, func(UserChange) error {
		t.Error("latest round returned an entry")
		return nil
	})
	if err != nil || c.Usage().Sub(before).Requests != 1 {
		t.Fatalf("latest: %v, usage %+v", err, c.Usage().Sub(before))
	}
	sim.UpdateUser(retitled, func(u *graphsim.User) { u.JobTitle = "Chief Again" })
	var after []UserChange
	if _, err := c.UsersDelta(ctx, UsersDeltaQuery{Link: latest}, func(ch UserChange) error {
		after = append(after, ch)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0].User.JobTitle != "Chief Again" {
		t.Errorf("after latest: %+v", after)
	}

	// The callback's error stops the round and is returned as is.
	stop := errors.New("stop")
	if _, err := c.UsersDelta(ctx, UsersDeltaQuery{Select: sel}, func(UserChange) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}
}

func TestGroupMembersDelta(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{}, "User.Read.All", "GroupMember.Read.All")
	gen := sim.Generate(graphsim.GenerateOptions{Users: 2500, GroupMembers: 2500, Seed: 4})
	other := sim.PutGroup(graphsim.Group{DisplayName: "Other", SecurityEnabled: true, Members: gen.UserIDs[:10]})
	c := mustClient(t, cfg)
	ctx := context.Background()

	full, err := c.GroupMembersDelta(ctx, "", gen.AllStaffGroupID)
	if err != nil {
		t.Fatal(err)
	}
	// The emulator repeats a large group over pages of 1,000 members.
	if !full.Seen || full.DisplayName != "All Staff" || len(full.Added) != 2500 || len(full.Removed) != 0 || c.Usage().Requests != 3 {
		t.Fatalf("enumeration: seen %v name %q added %d removed %d, %d requests", full.Seen, full.DisplayName, len(full.Added), len(full.Removed), c.Usage().Requests)
	}

	sim.RemoveMember(gen.AllStaffGroupID, gen.UserIDs[0])
	sim.RemoveMember(gen.AllStaffGroupID, gen.UserIDs[1])
	sim.AddMember(gen.AllStaffGroupID, other.ID)
	sim.AddMember(other.ID, gen.UserIDs[100]) // another group's change is filtered out
	sim.UpdateGroup(gen.AllStaffGroupID, func(g *graphsim.Group) { g.DisplayName = "Everyone" })
	ch, err := c.GroupMembersDelta(ctx, full.DeltaLink, gen.AllStaffGroupID)
	if err != nil {
		t.Fatal(err)
	}
	wantRemoved := []string{gen.UserIDs[0], gen.UserIDs[1]}
	slices.Sort(wantRemoved)
	if !slices.Equal(ch.Removed, wantRemoved) || len(ch.Added) != 0 || !slices.Equal(ch.AddedGroups, []string{other.ID}) || ch.DisplayName != "Everyone" {
		t.Errorf("changes: %+v", ch)
	}

	// Nothing changed: the group is not reported.
	quiet, err := c.GroupMembersDelta(ctx, ch.DeltaLink, gen.AllStaffGroupID)
	if err != nil || quiet.Seen || len(quiet.Added)+len(quiet.Removed) != 0 || quiet.DeltaLink == "" {
		t.Errorf("quiet round: %+v, %v", quiet, err)
	}

	latest, err := c.GroupMembersDelta(ctx, DeltaLatest, gen.AllStaffGroupID)
	if err != nil || latest.Seen || latest.DeltaLink == "" {
		t.Fatalf("latest: %+v, %v", latest, err)
	}
	sim.AddMember(gen.AllStaffGroupID, gen.UserIDs[0])
	back, err := c.GroupMembersDelta(ctx, latest.DeltaLink, gen.AllStaffGroupID)
	if err != nil || !slices.Equal(back.Added, []string{gen.UserIDs[0]}) {
		t.Errorf("after latest: %+v, %v", back, err)
	}

	n, err := c.CountGroupMembers(ctx, gen.AllStaffGroupID, false)
	if err != nil || n != 2500 { // 2,499 users and one nested group
		t.Errorf("CountGroupMembers = %d, %v", n, err)
	}
	if n, err := c.CountUsers(ctx); err != nil || n != 2500 {
		t.Errorf("CountUsers = %d, %v", n, err)
	}
}

// An expired delta link is reported so the caller resyncs once.
func TestDeltaLinkExpired(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{DeltaTokenTTL: time.Minute}, "User.Read.All", "GroupMember.Read.All")
	gen := sim.Generate(graphsim.GenerateOptions{Users: 5, GroupMembers: 5, Seed: 5})
	c := mustClient(t, cfg)
	ctx := context.Background()
	link, err := c.UsersDelta(ctx, UsersDeltaQuery{Link: DeltaLatest}, func(UserChange) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	gd, err := c.GroupMembersDelta(ctx, DeltaLatest, gen.AllStaffGroupID)
	if err != nil {
		t.Fatal(err)
	}
	sim.Advance(2 * time.Minute)
	_, uerr := c.UsersDelta(ctx, UsersDeltaQuery{Link: link}, func(UserChange) error { return nil })
	_, gerr := c.GroupMembersDelta(ctx, gd.DeltaLink, gen.AllStaffGroupID)
	for name, err := range map[string]error{"users": uerr, "groups": gerr} {
		if !IsDeltaExpired(err) {
			t.Errorf("%s: %v is not reported as an expired delta link", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "delta") {
			t.Errorf("%s: error does not name the call: %v", name, err)
		}
	}
	if IsDeltaExpired(&Error{Kind: NotFound, StatusCode: 404}) || IsDeltaExpired(errors.New("x")) {
		t.Error("IsDeltaExpired is too broad")
	}
}
