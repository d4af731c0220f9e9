package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// GenerateOptions describes a synthetic tenant.
type GenerateOptions struct {
	Users         int     // number of users
	ManagersEvery int     // ~1 manager per N users, as a tree (0 = no managers)
	GroupMembers  int     // members of the big "All Staff" group (0 = no big group)
	NestedGroups  bool    // department groups nested in "All Departments"
	DisabledShare float64 // share of disabled accounts
	Seed          int64
}

// GenerateResult names what Generate created.
type GenerateResult struct {
	UserIDs            []string // in generation order; UserIDs[0] is the root of the manager tree
	RootManagerID      string
	AllStaffGroupID    string
	DepartmentGroupIDs []string
	ParentGroupID      string // "All Departments" (nested groups)
	Domain             string
	Duration           time.Duration
}

var (
	genGiven = []string{"Adele", "Alex", "Allan", "Bianca", "Brian", "Cameron", "Christie", "Debra", "Diego", "Emily",
		"Enrico", "Grady", "Henrietta", "Irvin", "Isaiah", "Johanna", "Joni", "Lee", "Lidia", "Lynne", "Megan",
		"Miriam", "Nestor", "Patti", "Pradeep", "Raul", "Sara", "Stanley", "Trevor", "Wanda"}
	genSurname = []string{"Vance", "Wilber", "Deyoung", "Pisani", "Johnson", "White", "Cline", "Berry", "Siciliani",
		"Braun", "Ferrari", "Archie", "Gonzales", "Sayers", "Rivera", "Lauer", "Sherman", "Gu", "Holloway", "Robbins",
		"Bowen", "Graham", "Wilke", "Fernandez", "Gupta", "Mendez", "Davis", "Morales", "Jones", "Tyler"}
	genDepts  = []string{"Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Support", "Legal", "Operations"}
	genTitles = []string{"Engineer", "Senior Engineer", "Account Executive", "Marketing Manager", "Accountant",
		"HR Generalist", "Support Specialist", "Counsel", "Operations Analyst", "Designer"}
	genOffices = []string{"18/2111", "20/1101", "131/1104", "24/1106", "12/1110", "19/3123"}
)

func genID(r *mrand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	a = (a &^ (0xf << 12)) | (0x4 << 12)
	b = (b &^ (0x3 << 62)) | (0x2 << 62)
	const hexd = "0123456789abcdef"
	var out [36]byte
	pos := 0
	put := func(v uint64, n int) {
		for i := n - 1; i >= 0; i-- {
			out[pos+i] = hexd[v&0xf]
			v >>= 4
		}
		pos += n
	}
	put(a>>32, 8)
	out[pos] = '-'
	pos++
	put((a>>16)&0xffff, 4)
	out[pos] = '-'
	pos++
	put(a&0xffff, 4)
	out[pos] = '-'
	pos++
	put(b>>48, 4)
	out[pos] = '-'
	pos++
	put(b&0xffffffffffff, 12)
	return string(out[:])
}

// Generate adds a deterministic synthetic tenant (same options, same ids and
// names). It is built for size: 100,000 users take well under two seconds.
func (s *Server) Generate(o GenerateOptions) GenerateResult {
	start := time.Now()
	rng := mrand.New(mrand.NewPCG(uint64(o.Seed), 0x5851f42d4c957f2d))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	domain := s.domains[0].name
	res := GenerateResult{Domain: domain, UserIDs: make([]string, 0, o.Users)}
	created := now.UTC().Add(-365 * 24 * time.Hour).Truncate(time.Second)
	if len(s.st.users) == 0 && o.Users > 0 {
		// Pre-size the indexes: rehashing 100k-entry maps is most of the cost.
		s.st.users = make(map[string]*userRec, o.Users)
		s.st.upn = make(map[string]string, o.Users)
		s.st.uLog = make([]logEntry, 0, o.Users)
	}
	deptMembers := make([][]string, len(genDepts))
	for i := 0; i < o.Users; i++ {
		gn := genGiven[rng.IntN(len(genGiven))]
		sn := genSurname[rng.IntN(len(genSurname))]
		nick := strings.ToLower(gn) + "." + strings.ToLower(sn) + strconv.Itoa(i)
		dept := rng.IntN(len(genDepts))
		// Draw every random value whatever the options, so a user's id and
		// name depend only on Seed and its index.
		disabled := rng.Float64() < o.DisabledShare
		u := User{
			ID:                genID(rng),
			UserPrincipalName: nick + "@" + domain,
			DisplayName:       gn + " " + sn,
			GivenName:         gn,
			Surname:           sn,
			Mail:              nick + "@" + domain,
			MailNickname:      nick,
			JobTitle:          genTitles[rng.IntN(len(genTitles))],
			Department:        genDepts[dept],
			OfficeLocation:    genOffices[rng.IntN(len(genOffices))],
			UsageLocation:     "US",
			EmployeeID:        strconv.Itoa(100000 + i),
			AccountEnabled:    !disabled,
			CreatedDateTime:   created.Add(time.Duration(i) * time.Second),
			PreferredLanguage: "en-US",
			BusinessPhones:    []string{"+1 425 555 " + strconv.Itoa(1000+i%9000)},
		}
		if o.ManagersEvery > 0 && i > 0 {
			u.ManagerID = res.UserIDs[(i-1)/o.ManagersEvery]
		}
		// signInActivity, licenses and leave dates derive from the id when
		// read (seededAt): storing them would slow generation down.
		s.insertUserLocked(u, nil, now, false).seededAt = now
		res.UserIDs = append(res.UserIDs, u.ID)
		deptMembers[dept] = append(deptMembers[dept], u.ID)
	}
	if o.ManagersEvery > 0 && o.Users > 0 {
		res.RootManagerID = res.UserIDs[0]
	}
	if o.GroupMembers > 0 {
		n := min(o.GroupMembers, len(res.UserIDs))
		g := s.putGroupLocked(Group{ID: genID(rng), DisplayName: "All Staff", Description: "Every employee",
			MailNickname: "allstaff", SecurityEnabled: true, Members: res.UserIDs[:n]})
		res.AllStaffGroupID = g.ID
	}
	if o.NestedGroups {
		var deptIDs []string
		for i, d := range genDepts {
			nick := strings.ToLower(strings.ReplaceAll(d, " ", ""))
			g := s.putGroupLocked(Group{ID: genID(rng), DisplayName: "Dept - " + d, Description: d + " department",
				MailNickname: "dept-" + nick, SecurityEnabled: true, Members: deptMembers[i]})
			deptIDs = append(deptIDs, g.ID)
		}
		p := s.putGroupLocked(Group{ID: genID(rng), DisplayName: "All Departments", Description: "Nested department groups",
			MailNickname: "alldepartments", SecurityEnabled: true, Members: deptIDs})
		res.DepartmentGroupIDs = deptIDs
		res.ParentGroupID = p.ID
	}
	res.Duration = time.Since(start)
	return res
}

type fixtureUser struct {
	ID                string   `json:"id"`
	UserPrincipalName string   `json:"userPrincipalName"`
	DisplayName       string   `json:"displayName"`
	GivenName         string   `json:"givenName"`
	Surname           string   `json:"surname"`
	Mail              string   `json:"mail"`
	MailNickname      string   `json:"mailNickname"`
	JobTitle          string   `json:"jobTitle"`
	Department        string   `json:"department"`
	OfficeLocation    string   `json:"officeLocation"`
	UsageLocation     string   `json:"usageLocation"`
	EmployeeID        string   `json:"employeeId"`
	AccountEnabled    *bool    `json:"accountEnabled"`
	Manager           string   `json:"manager"` // id or UPN
	ManagerID         string   `json:"managerId"`
	CreatedDateTime   string   `json:"createdDateTime"`
	BusinessPhones    []string `json:"businessPhones"`
	MobilePhone       string   `json:"mobilePhone"`
	PreferredLanguage string   `json:"preferredLanguage"`
	Password          string   `json:"password"`
	Deleted           bool     `json:"deleted"`
	// served with $select only
	SignInActivity *struct {
		LastSignInDateTime               string `json:"lastSignInDateTime"`
		LastNonInteractiveSignInDateTime string `json:"lastNonInteractiveSignInDateTime"`
		LastSuccessfulSignInDateTime     string `json:"lastSuccessfulSignInDateTime"`
	} `json:"signInActivity"`
	EmployeeLeaveDateTime string `json:"employeeLeaveDateTime"`
	AssignedLicenses      []struct {
		SkuID         string   `json:"skuId"`
		DisabledPlans []string `json:"disabledPlans"`
	} `json:"assignedLicenses"`
	Extensions map[string]any `json:"extensions"`
}

// servedOnly copies the $select-only properties of a fixture user.
func (fu *fixtureUser) servedOnly(u *User) error {
	parse := func(field, v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return t, fmt.Errorf("graphsim fixtures: user %s: %s: %w", fu.UserPrincipalName, field, err)
		}
		return t, nil
	}
	var err error
	if a := fu.SignInActivity; a != nil {
		si := &SignInActivity{}
		if si.LastSignInDateTime, err = parse("lastSignInDateTime", a.LastSignInDateTime); err != nil {
			return err
		}
		if si.LastNonInteractiveSignInDateTime, err = parse("lastNonInteractiveSignInDateTime", a.LastNonInteractiveSignInDateTime); err != nil {
			return err
		}
		if si.LastSuccessfulSignInDateTime, err = parse("lastSuccessfulSignInDateTime", a.LastSuccessfulSignInDateTime); err != nil {
			return err
		}
		u.SignInActivity = si
	}
	if u.EmployeeLeaveDateTime, err = parse("employeeLeaveDateTime", fu.EmployeeLeaveDateTime); err != nil {
		return err
	}
	for _, l := range fu.AssignedLicenses {
		u.AssignedLicenses = append(u.AssignedLicenses, AssignedLicense{SkuID: l.SkuID, DisabledPlans: l.DisabledPlans})
	}
	u.Extensions = fu.Extensions
	return nil
}

type fixtureGroup struct {
	ID              string   `json:"id"`
	DisplayName     string   `json:"displayName"`
	Description     string   `json:"description"`
	Mail            string   `json:"mail"`
	MailNickname    string   `json:"mailNickname"`
	SecurityEnabled *bool    `json:"securityEnabled"`
	MailEnabled     bool     `json:"mailEnabled"`
	GroupTypes      []string `json:"groupTypes"`
	Members         []string `json:"members"` // ids, UPNs or group display names
}

type fixtureFile struct {
	Users    []fixtureUser    `json:"users"`
	Groups   []fixtureGroup   `json:"groups"`
	Generate *GenerateOptions `json:"generate"`
}

// LoadFixtures seeds users and groups from JSON or YAML:
//
//	users:  [{userPrincipalName, displayName, accountEnabled, manager: <upn|id>, ...}]
//	groups: [{displayName, members: [<upn|id|group displayName>], ...}]
//
// Missing ids are generated; accountEnabled defaults to true and
// securityEnabled to true.
func (s *Server) LoadFixtures(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	js := raw
	if t := bytes.TrimSpace(raw); len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		if js, err = yaml.YAMLToJSON(raw); err != nil {
			return fmt.Errorf("graphsim fixtures: %w", err)
		}
	}
	var f fixtureFile
	d := json.NewDecoder(bytes.NewReader(js))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return fmt.Errorf("graphsim fixtures: %w", err)
	}
	if f.Generate != nil {
		s.Generate(*f.Generate)
	}
	var ids []string
	for _, fu := range f.Users {
		u := User{ID: fu.ID, UserPrincipalName: fu.UserPrincipalName, DisplayName: fu.DisplayName, GivenName: fu.GivenName,
			Surname: fu.Surname, Mail: fu.Mail, MailNickname: fu.MailNickname, JobTitle: fu.JobTitle, Department: fu.Department,
			OfficeLocation: fu.OfficeLocation, UsageLocation: fu.UsageLocation, EmployeeID: fu.EmployeeID, AccountEnabled: true,
			BusinessPhones: fu.BusinessPhones, MobilePhone: fu.MobilePhone, PreferredLanguage: fu.PreferredLanguage, Password: fu.Password}
		if fu.AccountEnabled != nil {
			u.AccountEnabled = *fu.AccountEnabled
		}
		if err := fu.servedOnly(&u); err != nil {
			return err
		}
		if u.UserPrincipalName == "" {
			return fmt.Errorf("graphsim fixtures: user %q has no userPrincipalName", fu.DisplayName)
		}
		if u.MailNickname == "" {
			u.MailNickname, _, _ = strings.Cut(u.UserPrincipalName, "@")
		}
		if u.DisplayName == "" {
			u.DisplayName = u.MailNickname
		}
		if fu.CreatedDateTime != "" {
			t, err := time.Parse(time.RFC3339, fu.CreatedDateTime)
			if err != nil {
				return fmt.Errorf("graphsim fixtures: user %s: createdDateTime: %w", u.UserPrincipalName, err)
			}
			u.CreatedDateTime = t
		}
		if _, dup := s.GetUser(u.UserPrincipalName); dup && fu.ID == "" {
			return fmt.Errorf("graphsim fixtures: duplicate userPrincipalName %s", u.UserPrincipalName)
		}
		ids = append(ids, s.PutUser(u).ID)
	}
	for i, fu := range f.Users {
		ref := fu.ManagerID
		if ref == "" {
			ref = fu.Manager
		}
		if ref != "" {
			m, ok := s.GetUser(ref)
			if !ok {
				return fmt.Errorf("graphsim fixtures: manager %q of %s not found", ref, fu.UserPrincipalName)
			}
			s.UpdateUser(ids[i], func(u *User) { u.ManagerID = m.ID })
		}
	}
	byName := map[string]string{}
	var gids []string
	for _, fg := range f.Groups {
		g := Group{ID: fg.ID, DisplayName: fg.DisplayName, Description: fg.Description, Mail: fg.Mail, MailNickname: fg.MailNickname,
			SecurityEnabled: true, MailEnabled: fg.MailEnabled, GroupTypes: fg.GroupTypes}
		if fg.SecurityEnabled != nil {
			g.SecurityEnabled = *fg.SecurityEnabled
		}
		g = s.PutGroup(g)
		byName[strings.ToLower(g.DisplayName)] = g.ID
		gids = append(gids, g.ID)
	}
	for i, fg := range f.Groups {
		for _, m := range fg.Members {
			if u, ok := s.GetUser(m); ok {
				s.AddMember(gids[i], u.ID)
			} else if gid, ok := byName[strings.ToLower(m)]; ok {
				s.AddMember(gids[i], gid)
			} else if _, ok := s.GetGroup(m); ok {
				s.AddMember(gids[i], m)
			} else {
				return fmt.Errorf("graphsim fixtures: member %q of group %s not found", m, fg.DisplayName)
			}
		}
	}
	for i, fu := range f.Users {
		if fu.Deleted {
			s.DeleteUser(ids[i])
		}
	}
	return nil
}
