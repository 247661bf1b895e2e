/* TEAMS_TAB=true (api/teams_tab.py): inside Microsoft Teams, Outlook or Microsoft 365, tell the
host that the tab has loaded (TeamsJS `app.initialize`); the *.cloud.microsoft hosts show a
warning over a tab that does not. Opened on its own (not in a frame) it does nothing. */
(function () {
    "use strict";
    const teams = window.microsoftTeams;
    if (window.parent === window || !teams) return;
    teams.app.initialize().catch(function () {
        /* Framed by a site that is not a Microsoft host (FRAME_ANCESTORS): nothing to tell. */
    });
})();
