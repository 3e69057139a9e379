// Transcribed from the seed generator's tables (SPEC.md S1.3, S1.5; tables in list order; the
// pinned sha256 of the regenerated benchmark checks every entry).
#include "skeletons.h"

#include <algorithm>

#include "tttmem/pycompat.h"

namespace tttmem::bench::data {

const std::vector<std::string_view> kNames{
    "张伟", "李明", "王芳", "陈强", "刘洋", "周静", "吴磊", "黄敏", "赵刚", "孙丽", "钱进", "钟华", "马涛", "朱琳", "胡军",
    "郭斌", "林雪", "何鑫", "高帆", "罗娜", "梁志", "宋燕", "唐杰", "韩冰", "冯雷", "邓超", "曹颖", "彭浩", "曾婷", "肖敏",
    "田勇", "贾静", "傅明", "丁辉", "沈虹", "魏强", "蒋鹏", "薛莉", "段宇", "雷鸣", "苏晴", "潘越", "卢凯", "蔡蓓", "汪涛",
    "顾嘉", "侯亮", "邱阳", "石磊", "金雯", "戚浩", "邹雪", "尹辉", "崔颖", "钮晨", "万峰", "毛伟", "施静", "覃浩", "项云"};  // 60
const std::vector<std::string_view> kRoles{
    "市场部负责人", "技术总监", "项目经理", "产品经理", "财务总监", "运营经理", "销售总监", "设计主管", "研发主管", "人力资源经理", "运维总监",
    "战略顾问", "首席架构师", "测试经理", "客服主管", "采购经理", "法务总监", "数据分析主管"};  // 18
const std::vector<std::string_view> kDepartments{
    "市场部", "技术部", "产品部", "财务部", "运营部", "销售部", "设计部", "研发部", "人力资源部", "运维部", "战略部", "数据部"};  // 12
const std::vector<std::string_view> kProjects{
    "A项目", "B项目", "新产品发布", "Q2规划", "海外扩张", "用户调研", "迁移升级", "品牌重塑", "客户大会", "年度审计", "供应链优化",
    "渠道建设", "OKR复盘", "数据治理", "降本增效", "技术债清理", "合规整改", "客户体验改造"};  // 18
const std::vector<std::string_view> kLocations{
    "3号楼12层", "总部大楼", "二楼会议室", "5号楼A区", "西区办公园", "南方分部", "北京总部", "上海办公室", "深圳分公司", "杭州研发中心",
    "成都团队", "武汉运营中心", "1号楼会议厅", "10楼茶水间", "8楼大会议室", "2号楼路演厅", "园区咖啡厅"};  // 17
const std::vector<std::string_view> kPreferences{
    "不吃辣", "偏好清淡", "喜欢早起", "不喝咖啡", "对花生过敏", "习惯靠窗座位", "喜欢安静的会议室", "讨厌长会", "偏好书面沟通", "晨型人",
    "夜猫子型", "工作时不接电话", "只在邮件里讨论合同", "需要全套素食", "不喝酒", "习惯站立工作"};  // 16
const std::vector<std::string_view> kWeekdays{
    "周一", "周二", "周三", "周四", "周五"};  // 5
const std::vector<std::string_view> kDayparts{
    "上午", "下午", "晚上"};  // 3
const std::vector<std::string_view> kHours{
    "八点", "九点", "十点", "十一点", "一点", "两点", "三点", "四点", "五点", "六点", "七点"};  // 11
const std::vector<std::pair<std::string_view, std::string_view>> kPronounPairs{
    {"A", "B"}, {"我", "对方"}, {"领导", "我"}, {"HR", "新同事"}, {"项目方", "供应商"}};
const std::vector<int> kHeadcounts{8, 12, 15, 20, 25, 30, 40, 50, 80, 100, 120};

// Per skeleton: template lines, slot fill order, registered rows (F<k>/P<k>), composed specs.
const std::vector<SkeletonDef> kSkeletons{
    {"SK-1",
     {"{p1}：你好，{name_a}，最近怎么样？",
      "{p2}：还行，最近在忙{project}。{name_b}也参与了。",
      "{p1}：哦{project}啊，截止日期记得是{deadline}对吧？预算多少？",
      "{p2}：嗯，{deadline}前要交。预算{budget}。{name_b}是{role_b}，主要负责对接客户。",
      "{p1}：{name_b}向谁汇报？",
      "{p2}：向{name_c}汇报，{name_c}是{role_c}。",
      "{p1}：明白。你工号还是{empid}吧？",
      "{p2}：嗯，{empid}。会议室订{location}，行不行？",
      "{p1}：行。我{pref}，午餐记得安排清淡点。",
      "{p2}：好。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"name_c", Pool::Person}, {"project", Pool::Project}, {"deadline", Pool::Date}, {"budget", Pool::Numeric}, {"role_b", Pool::Role}, {"role_c", Pool::Role}, {"empid", Pool::Numeric}, {"location", Pool::Spatial}, {"pref", Pool::Preference}},
     {{"name_b", "person", "{name_b} 是 {project} 的参与者", "{project} 由谁参与？"},
      {"name_c", "person", "{name_c} 是 {name_b} 的上级", "{name_b} 向谁汇报？"},
      {"project", "project", "目前在做的项目是 {project}", "目前在做什么项目？"},
      {"deadline", "temporal", "{project} 的截止日期是 {deadline}", "{project} 什么时候截止？"},
      {"budget", "numeric", "{project} 的预算是 {budget}", "{project} 的预算是多少？"},
      {"role_b", "relational", "{name_b} 的职位是 {role_b}", "{name_b} 是什么职位？"},
      {"role_c", "relational", "{name_c} 的职位是 {role_c}", "{name_c} 是什么职位？"},
      {"empid", "numeric", "{p2} 的工号是 {empid}", "{p2} 的工号是多少？"},
      {"location", "spatial", "会议室在 {location}", "会议室在哪里？"},
      {"pref", "preference", "{p1} {pref}", "{p1} 的饮食偏好是什么？"}},
     {{"name_b", "role_b", "项目的参与者职位是什么？", "{role_b}"},
      {"project", "deadline", "目前在做的项目什么时候截止？", "{deadline}"},
      {"project", "budget", "目前在做的项目预算多少？", "{budget}"},
      {"name_b", "name_c", "{name_b} 向谁汇报？", "{name_c}"},
      {"location", "pref", "会议室在哪，{p1} 的饮食偏好是什么？", "{location}；{pref}"}}},
    {"SK-2",
     {"{p1}：欢迎来到公司，{name_a}。先做个简单介绍吧。",
      "{p2}：好的。我叫{name_a}，加入{dept}，工号{empid}。",
      "{p1}：你的直属领导是{name_b}，{name_b}是{role_b}。办公室在{location}。",
      "{p2}：明白。我入职日期是{deadline}对吗？",
      "{p1}：对，{deadline}正式入职。第一个项目是{project}，预算{budget}。",
      "{p2}：人手够吗？",
      "{p1}：团队总共{headcount}人。会议时间是{daytime}，每周一次。",
      "{p2}：好的。另外我{pref}，午餐时麻烦留意一下。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"dept", Pool::Department}, {"empid", Pool::Numeric}, {"role_b", Pool::Role}, {"location", Pool::Spatial}, {"deadline", Pool::Date}, {"project", Pool::Project}, {"budget", Pool::Numeric}, {"headcount", Pool::Numeric}, {"daytime", Pool::Temporal}, {"pref", Pool::Preference}},
     {{"name_a", "person", "新同事叫 {name_a}", "新同事叫什么？"},
      {"name_b", "person", "{name_a} 的直属领导是 {name_b}", "{name_a} 的直属领导是谁？"},
      {"dept", "relational", "{name_a} 加入 {dept}", "{name_a} 在哪个部门？"},
      {"empid", "numeric", "{name_a} 的工号是 {empid}", "{name_a} 的工号是多少？"},
      {"role_b", "relational", "{name_b} 的职位是 {role_b}", "{name_b} 是什么职位？"},
      {"location", "spatial", "{name_a} 办公室在 {location}", "{name_a} 办公室在哪里？"},
      {"deadline", "temporal", "{name_a} 入职日期是 {deadline}", "{name_a} 什么时候入职？"},
      {"project", "project", "{name_a} 的第一个项目是 {project}", "{name_a} 的第一个项目是什么？"},
      {"budget", "numeric", "{project} 的预算是 {budget}", "{project} 的预算是多少？"},
      {"headcount", "numeric", "团队总共 {headcount} 人", "团队多少人？"},
      {"daytime", "temporal", "每周会议时间是 {daytime}", "每周会议什么时候？"},
      {"pref", "preference", "{name_a} {pref}", "{name_a} 的饮食偏好是什么？"}},
     {{"name_a", "dept", "新同事在哪个部门？", "{dept}"},
      {"name_a", "empid", "新同事的工号是多少？", "{empid}"},
      {"name_a", "deadline", "新同事什么时候入职？", "{deadline}"},
      {"name_a", "name_b", "新同事的领导是谁？", "{name_b}"},
      {"project", "budget", "新同事的第一个项目预算多少？", "{budget}"}}},
    {"SK-3",
     {"{p1}：{name_a}，关于{project}的供应商对接你做得怎么样了？",
      "{p2}：进度还行。供应商联系人是{name_b}，{role_b}。报价{budget}。",
      "{p1}：对方公司在哪？",
      "{p2}：办公地点在{location}。{name_b}的工号或对方代号是{empid}。",
      "{p1}：交付时间敲定了吗？",
      "{p2}：交付定在{deadline}，会议安排在{daytime}走流程。",
      "{p1}：他们老板是{name_c}吧？",
      "{p2}：是的，{name_c}是{role_c}。我跟{name_b}打交道更多。",
      "{p1}：行。对了，下次客户晚宴别忘了，他们{pref}。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"name_c", Pool::Person}, {"project", Pool::Project}, {"role_b", Pool::Role}, {"role_c", Pool::Role}, {"budget", Pool::Numeric}, {"location", Pool::Spatial}, {"empid", Pool::Numeric}, {"deadline", Pool::Date}, {"daytime", Pool::Temporal}, {"pref", Pool::Preference}},
     {{"name_b", "person", "{project} 的供应商联系人是 {name_b}", "{project} 的供应商联系人是谁？"},
      {"role_b", "relational", "{name_b} 的职位是 {role_b}", "{name_b} 是什么职位？"},
      {"budget", "numeric", "供应商报价是 {budget}", "供应商报价是多少？"},
      {"location", "spatial", "供应商办公地点是 {location}", "供应商办公地点在哪里？"},
      {"empid", "numeric", "对方代号是 {empid}", "对方代号是什么？"},
      {"deadline", "temporal", "交付时间是 {deadline}", "交付时间是什么时候？"},
      {"daytime", "temporal", "对接会议时间是 {daytime}", "对接会议什么时候？"},
      {"name_c", "person", "{name_c} 是供应商方老板", "供应商方老板是谁？"},
      {"role_c", "relational", "{name_c} 的职位是 {role_c}", "{name_c} 的职位是什么？"},
      {"pref", "preference", "客户 {pref}", "客户的饮食偏好是什么？"}},
     {{"project", "name_b", "项目的供应商联系人是谁？", "{name_b}"},
      {"name_b", "role_b", "供应商联系人是什么职位？", "{role_b}"},
      {"project", "budget", "供应商对项目的报价是多少？", "{budget}"},
      {"name_c", "role_c", "供应商方老板的职位是什么？", "{role_c}"},
      {"project", "deadline", "项目交付时间是什么时候？", "{deadline}"}}},
    {"SK-4",
     {"{p1}：{name_a}，下周客户拜访的安排发我一下。",
      "{p2}：好。客户公司在{location}，对接人{name_b}，{role_b}。",
      "{p1}：哪天去？",
      "{p2}：{daytime}出发，回来定在{deadline}。预算开支{budget}。",
      "{p1}：客户那边其他需要注意的吗？",
      "{p2}：{name_b}的助理叫{name_c}，他们老板{role_c}也会出席。客户编号是{empid}。",
      "{p1}：行。请确认{name_b}{pref}，午餐做相应安排。",
      "{p2}：好的。这次重点是{project}的合同签订。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"name_c", Pool::Person}, {"project", Pool::Project}, {"role_b", Pool::Role}, {"role_c", Pool::Role}, {"budget", Pool::Numeric}, {"location", Pool::Spatial}, {"empid", Pool::Numeric}, {"deadline", Pool::Date}, {"daytime", Pool::Temporal}, {"pref", Pool::Preference}},
     {{"location", "spatial", "客户公司在 {location}", "客户公司在哪？"},
      {"name_b", "person", "客户对接人是 {name_b}", "客户对接人是谁？"},
      {"role_b", "relational", "{name_b} 的职位是 {role_b}", "{name_b} 的职位是什么？"},
      {"daytime", "temporal", "出发时间是 {daytime}", "什么时候出发？"},
      {"deadline", "temporal", "回来时间是 {deadline}", "什么时候回来？"},
      {"budget", "numeric", "预算开支 {budget}", "预算开支多少？"},
      {"name_c", "person", "{name_b} 的助理是 {name_c}", "{name_b} 的助理是谁？"},
      {"role_c", "relational", "客户老板的职位是 {role_c}", "客户老板的职位是什么？"},
      {"empid", "numeric", "客户编号是 {empid}", "客户编号是多少？"},
      {"project", "project", "本次重点是 {project} 合同", "本次重点是什么？"},
      {"pref", "preference", "{name_b} {pref}", "{name_b} 的饮食偏好是什么？"}},
     {{"name_b", "role_b", "客户对接人的职位是什么？", "{role_b}"},
      {"name_b", "location", "客户对接人公司在哪？", "{location}"},
      {"name_b", "name_c", "客户对接人的助理是谁？", "{name_c}"},
      {"project", "budget", "本次重点项目的预算是多少？", "{budget}"},
      {"daytime", "deadline", "出发和回来分别是什么时候？", "{daytime}；{deadline}"}}},
    {"SK-5",
     {"{p1}：{daytime}的复盘会，谁主持？",
      "{p2}：{name_a}主持。{name_a}是{role_b}。",
      "{p1}：哪个会议室？",
      "{p2}：{location}。预计{headcount}人参加。",
      "{p1}：议题呢？",
      "{p2}：主要复盘{project}，KPI完成度和{budget}的预算执行情况。",
      "{p1}：{name_b}过来吗？",
      "{p2}：会的。{name_b}是{role_c}，向{name_a}汇报。{name_b}工号{empid}。",
      "{p1}：截止节点呢？",
      "{p2}：{deadline}前要出复盘报告。{name_a}{pref}，会议茶歇时注意。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"name_b", Pool::Person}, {"project", Pool::Project}, {"role_b", Pool::Role}, {"role_c", Pool::Role}, {"budget", Pool::Numeric}, {"location", Pool::Spatial}, {"empid", Pool::Numeric}, {"deadline", Pool::Date}, {"daytime", Pool::Temporal}, {"headcount", Pool::Numeric}, {"pref", Pool::Preference}},
     {{"daytime", "temporal", "复盘会时间是 {daytime}", "复盘会什么时候？"},
      {"name_a", "person", "复盘会主持人是 {name_a}", "复盘会主持人是谁？"},
      {"role_b", "relational", "{name_a} 的职位是 {role_b}", "{name_a} 的职位是什么？"},
      {"location", "spatial", "复盘会会议室是 {location}", "复盘会会议室在哪？"},
      {"headcount", "numeric", "复盘会参加人数 {headcount}", "复盘会预计多少人？"},
      {"project", "project", "复盘的项目是 {project}", "复盘的项目是什么？"},
      {"budget", "numeric", "复盘的预算是 {budget}", "复盘的预算是多少？"},
      {"name_b", "person", "{name_b} 也参加复盘会", "复盘会还有谁参加？"},
      {"role_c", "relational", "{name_b} 的职位是 {role_c}", "{name_b} 的职位是什么？"},
      {"empid", "numeric", "{name_b} 工号 {empid}", "{name_b} 的工号是多少？"},
      {"deadline", "temporal", "复盘报告截止 {deadline}", "复盘报告什么时候截止？"},
      {"pref", "preference", "{name_a} {pref}", "{name_a} 的饮食偏好是什么？"}},
     {{"name_a", "role_b", "复盘会主持人是什么职位？", "{role_b}"},
      {"project", "budget", "复盘项目的预算是多少？", "{budget}"},
      {"name_b", "role_c", "{name_b} 是什么职位？", "{role_c}"},
      {"name_b", "empid", "{name_b} 的工号是多少？", "{empid}"},
      {"daytime", "location", "复盘会什么时候开，在哪个会议室？", "{daytime}；{location}"}}}};

const std::vector<SkeletonDef> kTestSkeletons{
    {"SK-6",
     {"{p1}：{name_a}，下个月的{project}培训准备得怎么样了？",
      "{p2}：讲师请了{name_b}，{name_b}现在是{role_b}。",
      "{p1}：场地定了没有？",
      "{p2}：定在{location}，能坐{headcount}个人。",
      "{p1}：培训哪天开始？",
      "{p2}：{deadline}开始，第一次课在{daytime}。报名由{dept}统一负责。",
      "{p1}：讲师费怎么算？",
      "{p2}：总费用{budget}。{name_b}{pref}，茶歇我会提前准备。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"project", Pool::Project}, {"name_b", Pool::Person}, {"role_b", Pool::Role}, {"location", Pool::Spatial}, {"headcount", Pool::Numeric}, {"deadline", Pool::Date}, {"daytime", Pool::Temporal}, {"dept", Pool::Department}, {"budget", Pool::Numeric}, {"pref", Pool::Preference}},
     {{"name_b", "person", "{project} 培训的讲师是 {name_b}", "{project} 培训请的讲师是哪位？"},
      {"role_b", "relational", "{name_b} 现在的职务是 {role_b}", "{name_b} 现在担任什么职务？"},
      {"location", "spatial", "培训场地在 {location}", "培训场地定在哪儿？"},
      {"headcount", "numeric", "培训场地能坐 {headcount} 人", "培训场地能容纳几个人？"},
      {"deadline", "temporal", "培训 {deadline} 开始", "培训从哪天开始？"},
      {"daytime", "temporal", "第一次课在 {daytime}", "第一次课安排在什么时候？"},
      {"dept", "relational", "报名由 {dept} 负责", "培训报名归哪个部门管？"},
      {"budget", "numeric", "培训总费用是 {budget}", "培训总共花多少钱？"},
      {"pref", "preference", "{name_b} {pref}", "茶歇要照顾 {name_b} 的什么情况？"}},
     {{"name_b", "role_b", "培训讲师现在担任什么职务？", "{role_b}"},
      {"location", "headcount", "培训所在的场地最多坐几个人？", "{headcount}"},
      {"name_b", "budget", "请{name_b}讲课的培训总费用是多少？", "{budget}"}}},
    {"SK-7",
     {"{p1}：{name_a}，{dept}要的新设备批下来了吗？",
      "{p2}：批了，采购预算{budget}，挂在{project}名下。",
      "{p1}：供应商找的谁？",
      "{p2}：对接人是{name_b}，{role_b}，合同编号{empid}。",
      "{p1}：什么时候到货？",
      "{p2}：{deadline}到货，送到{location}。验收安排在{daytime}。",
      "{p1}：验收谁负责？",
      "{p2}：{name_c}负责，{name_c}是{role_c}。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"dept", Pool::Department}, {"budget", Pool::Numeric}, {"project", Pool::Project}, {"name_b", Pool::Person}, {"role_b", Pool::Role}, {"empid", Pool::Numeric}, {"deadline", Pool::Date}, {"location", Pool::Spatial}, {"daytime", Pool::Temporal}, {"name_c", Pool::Person}, {"role_c", Pool::Role}},
     {{"dept", "relational", "申请新设备的是 {dept}", "哪个部门申请了新设备？"},
      {"budget", "numeric", "设备采购预算是 {budget}", "设备采购批了多少预算？"},
      {"project", "project", "采购挂在 {project} 名下", "这笔采购挂在哪个项目名下？"},
      {"name_b", "person", "设备供应商的对接人是 {name_b}", "设备供应商那边的对接人叫什么？"},
      {"role_b", "relational", "{name_b} 的头衔是 {role_b}", "{name_b} 的头衔是什么？"},
      {"empid", "numeric", "采购合同编号是 {empid}", "采购合同的编号是多少？"},
      {"deadline", "temporal", "设备 {deadline} 到货", "设备哪天到货？"},
      {"location", "spatial", "设备送到 {location}", "设备送往什么地方？"},
      {"daytime", "temporal", "验收安排在 {daytime}", "验收定在什么时间？"},
      {"name_c", "person", "验收负责人是 {name_c}", "谁负责设备验收？"},
      {"role_c", "relational", "{name_c} 的头衔是 {role_c}", "{name_c} 的头衔是什么？"}},
     {{"name_b", "role_b", "设备供应商对接人的头衔是什么？", "{role_b}"},
      {"name_c", "role_c", "验收负责人的头衔是什么？", "{role_c}"},
      {"project", "budget", "挂在{project}名下的采购预算是多少？", "{budget}"},
      {"deadline", "location", "到货的设备送往哪里？", "{location}"}}},
    {"SK-8",
     {"{p1}：这次团建{name_a}牵头，定好去哪儿了吗？",
      "{p2}：定了，去{location}，一共{headcount}人报名。",
      "{p1}：时间呢？",
      "{p2}：{deadline}出发，集合时间是{daytime}。",
      "{p1}：经费够不够？",
      "{p2}：公司批了{budget}，报销找{name_b}，{name_b}在{dept}。",
      "{p1}：有人有特别要求吗？",
      "{p2}：{name_c}{pref}，订餐时要注意。"},
     {{"p1", Pool::Pronoun}, {"p2", Pool::Pronoun}, {"name_a", Pool::Person}, {"location", Pool::Spatial}, {"headcount", Pool::Numeric}, {"deadline", Pool::Date}, {"daytime", Pool::Temporal}, {"budget", Pool::Numeric}, {"name_b", Pool::Person}, {"dept", Pool::Department}, {"name_c", Pool::Person}, {"pref", Pool::Preference}},
     {{"name_a", "person", "团建由 {name_a} 牵头", "这次团建是谁牵头的？"},
      {"location", "spatial", "团建去 {location}", "团建目的地是哪里？"},
      {"headcount", "numeric", "团建报名 {headcount} 人", "团建有多少人报名？"},
      {"deadline", "temporal", "团建 {deadline} 出发", "团建哪天出发？"},
      {"daytime", "temporal", "团建集合时间是 {daytime}", "团建几点集合？"},
      {"budget", "numeric", "团建经费 {budget}", "团建经费批了多少？"},
      {"name_b", "person", "团建报销找 {name_b}", "团建报销该找谁？"},
      {"dept", "relational", "{name_b} 在 {dept}", "{name_b} 在哪个部门工作？"},
      {"pref", "preference", "{name_c} {pref}", "订餐时要照顾 {name_c} 的什么情况？"}},
     {{"name_b", "dept", "团建报销负责人在哪个部门？", "{dept}"},
      {"location", "headcount", "去{location}的团建有几个人？", "{headcount}"},
      {"deadline", "daytime", "团建出发那天几点集合？", "{daytime}"}}}};

namespace {

// Word lists of the distractor prose: landscapes, seasons and observers, far from the office
// world the slot pools describe.
constexpr std::array<std::string_view, 16> kPlaces{
    "山间的溪流", "古老的石桥", "北方的草原", "海边的灯塔", "沙漠里的绿洲", "江南的水乡",
    "高原上的湖泊", "雨林中的藤蔓", "极地的冰川", "乡间的稻田", "城郊的果园", "山顶的气象站",
    "峡谷里的瀑布", "河口的滩涂", "竹林深处的小径", "火山脚下的村落"};
constexpr std::array<std::string_view, 10> kTimes{"春天", "初夏", "深秋", "隆冬", "清晨",
                                                  "黄昏", "雨季", "旱季", "午后", "夜里"};
constexpr std::array<std::string_view, 16> kSights{
    "雾气缓缓散开", "溪水变得湍急", "候鸟成群飞过", "树叶染成金黄", "积雪慢慢融化",
    "风把沙丘推向东边", "潮水一次次拍打礁石", "萤火虫在草丛中闪烁", "云影掠过起伏的山脊",
    "露珠挂满了草尖", "野鸭在芦苇间穿行", "松涛一阵接着一阵", "冰面裂开细长的纹路",
    "炊烟在屋顶上盘旋", "稻穗压弯了秸秆", "月光洒在平静的水面"};
constexpr std::array<std::string_view, 8> kWatchers{"当地的老人", "研究植物的学者",
                                                    "摄影爱好者", "放牧的人", "来访的旅人",
                                                    "地理教师", "护林员", "渔民"};
constexpr std::array<std::string_view, 12> kClaims{
    "这种变化和气温有关", "每一年的节奏都略有不同", "水源决定了这里的生活方式",
    "土壤里藏着许多看不见的生命", "古人早就记录过类似的景象", "只要耐心观察就能发现规律",
    "风向的改变往往预示着天气", "动物比人更早察觉季节的更替", "这里的景色一天之内变化多端",
    "岩石的颜色记录了漫长的岁月", "河道的走向曾经多次改变", "植物的分布和海拔密切相关"};
constexpr std::array<std::string_view, 12> kDetails{
    "据说这里的石头已经有上万年的历史", "附近的村庄世代以种茶为生", "小路两旁长满了野花",
    "河床里散落着圆润的卵石", "每到节日人们会点起灯笼", "远处传来几声悠长的鸟鸣",
    "老树的根系紧紧抓住岩缝", "渡口的木船已经用了几十年", "山坡上的梯田一层叠着一层",
    "泉水清澈得能看见水底的细沙", "傍晚的天空由橙色渐渐变紫", "草地上留着一串细小的脚印"};

}  // namespace

std::string distractor_passage(std::uint64_t index) {
  py::Random rng(0x5eed0000ULL + index);
  std::string text;
  const std::uint32_t sentences = 6 + rng.randbelow(5);
  for (std::uint32_t k = 0; k < sentences; ++k) {
    switch (rng.randbelow(5)) {
      case 0:
        text.append(rng.choice(kTimes)).append("的").append(rng.choice(kPlaces)).append("，");
        text.append(rng.choice(kSights)).append("。");
        break;
      case 1:
        text.append(rng.choice(kWatchers)).append("认为，").append(rng.choice(kClaims)).append("。");
        break;
      case 2:
        text.append(rng.choice(kDetails)).append("。");
        break;
      case 3:
        text.append("有人说").append(rng.choice(kPlaces)).append("最美的时候是");
        text.append(rng.choice(kTimes)).append("，也有人更喜欢").append(rng.choice(kTimes));
        text.append("。");
        break;
      default:
        text.append("走近").append(rng.choice(kPlaces)).append("，可以看到");
        text.append(rng.choice(kSights)).append("。");
        break;
    }
  }
  return text;
}

bool is_dietary(std::string_view preference) {
  static constexpr std::array<std::string_view, 6> kDietary{"不吃辣", "偏好清淡", "不喝咖啡",
                                                            "对花生过敏", "需要全套素食", "不喝酒"};
  return std::find(kDietary.begin(), kDietary.end(), preference) != kDietary.end();
}

}  // namespace tttmem::bench::data
