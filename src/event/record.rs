//! An [`Event`] to and from the log's protobuf record (`proto/sightline/v1/record.proto`).

use super::*;

impl Event {
    /// Encode as the log's protobuf record.
    pub fn to_record(&self) -> pb::Record {
        use pb::record::Payload as P;
        let vp = |v: Option<Viewport>| v.map(|v| pb::Viewport { w: v.w, h: v.h });
        let c = self.client.as_deref();
        let payload = match &self.payload {
            Payload::Pageview {
                referrer,
                title,
                screen,
                layout,
            } => {
                let src = self.source.as_deref();
                P::Pageview(pb::Pageview {
                    referrer: referrer.clone().unwrap_or_default(),
                    title: title.clone().unwrap_or_default(),
                    screen: vp(*screen),
                    layout: layout.clone().unwrap_or_default(),
                    has_source: src.is_some(),
                    referrer_host: src.map(|s| s.referrer_host.clone()).unwrap_or_default(),
                    channel: src.map(|s| s.channel.as_str().to_string()).unwrap_or_default(),
                    utm_source: src.map(|s| s.utm_source.clone()).unwrap_or_default(),
                    utm_medium: src.map(|s| s.utm_medium.clone()).unwrap_or_default(),
                    utm_campaign: src.map(|s| s.utm_campaign.clone()).unwrap_or_default(),
                })
            }
            Payload::Click {
                x,
                y,
                selector,
                el,
                tag,
                zone,
                reaction_ms,
                keyboard,
                modifier,
                navigates,
                input_type,
                tracker,
                text,
            } => P::Click(pb::Click {
                x: *x,
                y: *y,
                selector: selector.clone(),
                el_x: el.map(|e| e.0),
                el_y: el.map(|e| e.1),
                tag: tag.clone().unwrap_or_default(),
                zone: zone.clone().unwrap_or_default(),
                reaction_ms: *reaction_ms,
                keyboard: *keyboard,
                modifier: *modifier,
                navigates: *navigates,
                input_type: input_type.clone().unwrap_or_default(),
                tracker: tracker.clone().unwrap_or_default(),
                text: text.clone().unwrap_or_default(),
            }),
            Payload::Scroll { depth, doc_h } => P::Scroll(pb::Scroll {
                depth: *depth,
                doc_h: *doc_h,
            }),
            Payload::Zone {
                zone,
                visible_ms,
                hover_ms,
                hesitation_ms,
            } => P::Zone(pb::Zone {
                zone: zone.clone(),
                visible_ms: *visible_ms,
                hover_ms: *hover_ms,
                hesitation_ms: *hesitation_ms,
            }),
            Payload::Replay {
                recording_id,
                started_at,
                ended_at,
                pages,
                events,
                bytes,
                clicks,
                errors,
            } => P::Replay(pb::Replay {
                recording_id: recording_id.clone(),
                started_at: *started_at,
                ended_at: *ended_at,
                pages: *pages,
                events: *events,
                bytes: *bytes,
                clicks: *clicks,
                errors: *errors,
            }),
            Payload::SurveyResponse {
                survey_id,
                question_id,
                kind,
                value,
                trigger,
            } => {
                use pb::survey_response::Value as V;
                P::SurveyResponse(pb::SurveyResponse {
                    survey_id: survey_id.clone(),
                    question_id: question_id.clone(),
                    kind: kind.as_str().to_string(),
                    value: Some(match value {
                        Answer::Number(n) => V::Number(*n),
                        Answer::Text(t) => V::Text(t.clone()),
                        Answer::Choices(c) => V::Choices(pb::ChoiceList { items: c.clone() }),
                    }),
                    trigger: trigger.clone().unwrap_or_default(),
                })
            }
            Payload::SurveyShown { survey_id, trigger } => P::SurveyShown(pb::SurveyShown {
                survey_id: survey_id.clone(),
                trigger: trigger.clone().unwrap_or_default(),
            }),
            Payload::SurveyDismissed {
                survey_id,
                question_id,
                trigger,
            } => P::SurveyDismissed(pb::SurveyDismissed {
                survey_id: survey_id.clone(),
                question_id: question_id.clone().unwrap_or_default(),
                trigger: trigger.clone().unwrap_or_default(),
            }),
            Payload::Feedback {
                rating,
                comment,
                category,
                selector,
            } => P::Feedback(pb::Feedback {
                rating: rating.map(u32::from),
                comment: comment.clone().unwrap_or_default(),
                category: category.clone().unwrap_or_default(),
                selector: selector.clone().unwrap_or_default(),
            }),
            Payload::Custom { name, props_json } => P::Custom(pb::Custom {
                name: name.clone(),
                props_json: props_json.clone(),
            }),
            Payload::ReplayChunk(c) => P::ReplayChunk(c.clone()),
        };
        pb::Record {
            id: self.id.clone(),
            site: self.site.clone(),
            ts: self.ts,
            client_ts: self.client_ts,
            received_at: self.received_at,
            skew_rule: self.skew_rule.clone(),
            session_id: self.session_id.clone(),
            visitor_id: self.visitor_id.clone(),
            url: self.url.clone(),
            page_key: self.page_key.clone(),
            viewport: vp(self.viewport),
            seq: self.seq,
            pageview_id: self.pageview_id.clone().unwrap_or_default(),
            device: self.device.as_str().to_string(),
            bot_reason: self.bot_reason.clone().unwrap_or_default(),
            request_id: self.request_id.clone(),
            browser: c.map(|c| c.browser.clone()).unwrap_or_default(),
            browser_version: c.map(|c| c.browser_version.clone()).unwrap_or_default(),
            os: c.map(|c| c.os.clone()).unwrap_or_default(),
            os_version: c.map(|c| c.os_version.clone()).unwrap_or_default(),
            language: c.map(|c| c.language.clone()).unwrap_or_default(),
            payload: Some(payload),
        }
    }

    /// Decode a log record. Errors name what is missing or unknown.
    pub fn from_record(r: pb::Record) -> anyhow::Result<Event> {
        use pb::record::Payload as P;
        let none_if_empty = |s: String| if s.is_empty() { None } else { Some(s) };
        let vp = |v: Option<pb::Viewport>| v.map(|v| Viewport { w: v.w, h: v.h });
        let mut source = None;
        let payload = match r
            .payload
            .ok_or_else(|| anyhow::anyhow!("record {} has no payload", r.id))?
        {
            P::Pageview(p) => {
                if p.has_source {
                    source = Some(Box::new(crate::event::segment::Source {
                        channel: crate::event::segment::Channel::parse(&p.channel).unwrap_or_default(),
                        referrer_host: p.referrer_host,
                        utm_source: p.utm_source,
                        utm_medium: p.utm_medium,
                        utm_campaign: p.utm_campaign,
                    }));
                }
                Payload::Pageview {
                    referrer: none_if_empty(p.referrer),
                    title: none_if_empty(p.title),
                    screen: vp(p.screen),
                    layout: none_if_empty(p.layout),
                }
            }
            P::Click(c) => Payload::Click {
                x: c.x,
                y: c.y,
                selector: c.selector,
                el: c.el_x.zip(c.el_y),
                tag: none_if_empty(c.tag),
                zone: none_if_empty(c.zone),
                reaction_ms: c.reaction_ms,
                keyboard: c.keyboard,
                modifier: c.modifier,
                navigates: c.navigates,
                input_type: none_if_empty(c.input_type),
                tracker: none_if_empty(c.tracker),
                text: none_if_empty(c.text),
            },
            P::Scroll(s) => Payload::Scroll {
                depth: s.depth,
                doc_h: s.doc_h,
            },
            P::Zone(z) => Payload::Zone {
                zone: z.zone,
                visible_ms: z.visible_ms,
                hover_ms: z.hover_ms,
                hesitation_ms: z.hesitation_ms,
            },
            P::Replay(p) => Payload::Replay {
                recording_id: p.recording_id,
                started_at: p.started_at,
                ended_at: p.ended_at,
                pages: p.pages,
                events: p.events,
                bytes: p.bytes,
                clicks: p.clicks,
                errors: p.errors,
            },
            P::SurveyResponse(s) => {
                use pb::survey_response::Value as V;
                Payload::SurveyResponse {
                    kind: SurveyKind::parse(&s.kind)
                        .ok_or_else(|| anyhow::anyhow!("record {}: unknown survey kind {:?}", r.id, s.kind))?,
                    value: match s.value {
                        Some(V::Number(n)) => Answer::Number(n),
                        Some(V::Text(t)) => Answer::Text(t),
                        Some(V::Choices(c)) => Answer::Choices(c.items),
                        None => anyhow::bail!("record {}: survey response without value", r.id),
                    },
                    survey_id: s.survey_id,
                    question_id: s.question_id,
                    trigger: none_if_empty(s.trigger),
                }
            }
            P::SurveyShown(s) => Payload::SurveyShown {
                survey_id: s.survey_id,
                trigger: none_if_empty(s.trigger),
            },
            P::SurveyDismissed(s) => Payload::SurveyDismissed {
                survey_id: s.survey_id,
                question_id: none_if_empty(s.question_id),
                trigger: none_if_empty(s.trigger),
            },
            P::Feedback(f) => Payload::Feedback {
                rating: f.rating.map(|r| r.min(255) as u8),
                comment: none_if_empty(f.comment),
                category: none_if_empty(f.category),
                selector: none_if_empty(f.selector),
            },
            P::Custom(c) => Payload::Custom {
                name: c.name,
                props_json: c.props_json,
            },
            P::ReplayChunk(c) => Payload::ReplayChunk(c),
        };
        let known = [&r.browser, &r.browser_version, &r.os, &r.os_version, &r.language];
        let client = known.iter().any(|s| !s.is_empty()).then(|| {
            std::sync::Arc::new(crate::event::segment::Client {
                browser: r.browser.clone(),
                browser_version: r.browser_version.clone(),
                os: r.os.clone(),
                os_version: r.os_version.clone(),
                language: r.language.clone(),
            })
        });
        Ok(Event {
            client,
            source,
            device: DeviceClass::parse(&r.device).unwrap_or(DeviceClass::Unknown),
            id: r.id,
            site: r.site,
            ts: r.ts,
            client_ts: r.client_ts,
            received_at: r.received_at,
            skew_rule: r.skew_rule,
            session_id: r.session_id,
            visitor_id: r.visitor_id,
            url: r.url,
            page_key: r.page_key,
            viewport: vp(r.viewport),
            seq: r.seq,
            pageview_id: none_if_empty(r.pageview_id),
            bot_reason: none_if_empty(r.bot_reason),
            request_id: r.request_id,
            payload,
        })
    }

    /// Protobuf bytes of [`Event::to_record`].
    pub fn encode(&self) -> Vec<u8> {
        use prost::Message;
        self.to_record().encode_to_vec()
    }

    /// Decode protobuf bytes written by [`Event::encode`].
    pub fn decode(bytes: &[u8]) -> anyhow::Result<Event> {
        use prost::Message;
        Event::from_record(pb::Record::decode(bytes)?)
    }
}
