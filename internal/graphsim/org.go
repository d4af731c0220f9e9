package graphsim

import "strings"

func (s *Server) orgJSON() *jobj {
	var domains []any
	for _, d := range s.domains {
		caps := "Email, OfficeCommunicationsOnline"
		domains = append(domains, newObj(5).add("capabilities", caps).add("isDefault", d.isDefault).
			add("isInitial", d.isInitial).add("name", d.name).add("type", "Managed"))
	}
	s.mu.Lock()
	used := len(s.st.users) + len(s.st.groups)
	s.mu.Unlock()
	return newObj(32).
		add("id", s.orgID).
		add("deletedDateTime", nil).
		add("businessPhones", []string{"425-555-0100"}).
		add("city", nil).
		add("country", nil).
		add("countryLetterCode", "US").
		add("createdDateTime", fmtTime(s.orgCreat)).
		add("defaultUsageLocation", nil).
		add("displayName", s.orgName).
		add("isMultipleDataLocationsForServicesEnabled", nil).
		add("marketingNotificationEmails", []string{}).
		add("onPremisesLastSyncDateTime", nil).
		add("onPremisesSyncEnabled", nil).
		add("partnerTenantType", nil).
		add("postalCode", nil).
		add("preferredLanguage", "en").
		add("securityComplianceNotificationMails", []string{}).
		add("securityComplianceNotificationPhones", []string{}).
		add("state", nil).
		add("street", nil).
		add("technicalNotificationMails", []string{"admin@" + s.domains[0].name}).
		add("tenantType", "AAD").
		add("directorySizeQuota", map[string]int{"used": used, "total": max(50000, used*2)}).
		add("assignedPlans", []any{map[string]any{"assignedDateTime": fmtTime(s.orgCreat), "capabilityStatus": "Enabled", "service": "exchange", "servicePlanId": "113feb6c-3fe4-4440-bddc-54d774bf0318"}}).
		add("privacyProfile", map[string]string{"contactEmail": "", "statementUrl": ""}).
		add("provisionedPlans", []any{map[string]any{"capabilityStatus": "Enabled", "provisioningStatus": "Success", "service": "exchange"}}).
		add("verifiedDomains", domains)
}

func hOrgList(s *Server, c *call) gresp {
	return c.jsonResp(200, newObj(2).add("@odata.context", c.ctx("organization")).add("value", []any{s.orgJSON()}))
}

func hOrgGet(s *Server, c *call) gresp {
	if !strings.EqualFold(c.segs[1], s.orgID) {
		return c.errResp(notFound(c.segs[1]))
	}
	o := newObj(40).add("@odata.context", c.ctx("organization/$entity"))
	b := s.orgJSON()
	o.keys = append(o.keys, b.keys...)
	o.vals = append(o.vals, b.vals...)
	return c.jsonResp(200, o)
}
