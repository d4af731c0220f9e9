package export

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// GroupsHeader is the column order of groups.csv.
var GroupsHeader = []string{"id", "displayName", "mail", "securityEnabled", "mailEnabled", "groupTypes"}

// GroupsConfigMapName is where a Directory's groups.csv goes.
func GroupsConfigMapName(dir *v1alpha1.Directory) string { return dir.Name + "-groups" }

// WriteGroupsCSV stores groups.csv for a Directory with exports.groups on.
// Rows are sorted by display name then id, so unchanged groups give an
// unchanged ConfigMap and no write.
func WriteGroupsCSV(ctx context.Context, c client.Client, live client.Reader, scheme *runtime.Scheme, dir *v1alpha1.Directory, groups []graph.Group) (Result, error) {
	sorted := append([]graph.Group(nil), groups...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].DisplayName != sorted[j].DisplayName {
			return sorted[i].DisplayName < sorted[j].DisplayName
		}
		return sorted[i].ID < sorted[j].ID
	})
	rows := make([][]string, 0, len(sorted))
	for _, g := range sorted {
		rows = append(rows, []string{g.ID, g.DisplayName, g.Mail,
			strconv.FormatBool(g.SecurityEnabled), strconv.FormatBool(g.MailEnabled), strings.Join(g.GroupTypes, ";")})
	}
	return Write(ctx, c, live, scheme, dir, GroupsConfigMapName(dir), "groups.csv", CSV(GroupsHeader, rows))
}
